file(REMOVE_RECURSE
  "CMakeFiles/test_penalty.dir/tests/unit/test_penalty.c.o"
  "CMakeFiles/test_penalty.dir/tests/unit/test_penalty.c.o.d"
  "test_penalty"
  "test_penalty.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_penalty.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
