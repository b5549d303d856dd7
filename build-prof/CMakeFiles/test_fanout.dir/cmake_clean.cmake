file(REMOVE_RECURSE
  "CMakeFiles/test_fanout.dir/tests/unit/test_fanout.c.o"
  "CMakeFiles/test_fanout.dir/tests/unit/test_fanout.c.o.d"
  "test_fanout"
  "test_fanout.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_fanout.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
