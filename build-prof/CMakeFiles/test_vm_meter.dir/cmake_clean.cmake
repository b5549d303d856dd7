file(REMOVE_RECURSE
  "CMakeFiles/test_vm_meter.dir/tests/unit/test_vm_meter.c.o"
  "CMakeFiles/test_vm_meter.dir/tests/unit/test_vm_meter.c.o.d"
  "test_vm_meter"
  "test_vm_meter.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_vm_meter.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
