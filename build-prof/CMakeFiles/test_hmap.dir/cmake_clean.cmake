file(REMOVE_RECURSE
  "CMakeFiles/test_hmap.dir/tests/unit/test_hmap.c.o"
  "CMakeFiles/test_hmap.dir/tests/unit/test_hmap.c.o.d"
  "test_hmap"
  "test_hmap.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_hmap.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
