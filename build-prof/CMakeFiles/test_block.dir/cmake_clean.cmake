file(REMOVE_RECURSE
  "CMakeFiles/test_block.dir/tests/unit/test_block.c.o"
  "CMakeFiles/test_block.dir/tests/unit/test_block.c.o.d"
  "test_block"
  "test_block.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_block.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
