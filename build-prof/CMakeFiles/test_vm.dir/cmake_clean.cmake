file(REMOVE_RECURSE
  "CMakeFiles/test_vm.dir/tests/unit/test_vm.c.o"
  "CMakeFiles/test_vm.dir/tests/unit/test_vm.c.o.d"
  "test_vm"
  "test_vm.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_vm.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
