file(REMOVE_RECURSE
  "CMakeFiles/test_vm_sandbox.dir/tests/unit/test_vm_sandbox.c.o"
  "CMakeFiles/test_vm_sandbox.dir/tests/unit/test_vm_sandbox.c.o.d"
  "test_vm_sandbox"
  "test_vm_sandbox.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_vm_sandbox.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
