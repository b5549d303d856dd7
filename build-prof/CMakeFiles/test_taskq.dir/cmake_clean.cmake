file(REMOVE_RECURSE
  "CMakeFiles/test_taskq.dir/tests/unit/test_taskq.c.o"
  "CMakeFiles/test_taskq.dir/tests/unit/test_taskq.c.o.d"
  "test_taskq"
  "test_taskq.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_taskq.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
