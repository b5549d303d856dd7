file(REMOVE_RECURSE
  "CMakeFiles/test_hub.dir/tests/unit/test_hub.c.o"
  "CMakeFiles/test_hub.dir/tests/unit/test_hub.c.o.d"
  "test_hub"
  "test_hub.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_hub.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
