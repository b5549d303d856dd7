file(REMOVE_RECURSE
  "CMakeFiles/test_dedupe.dir/tests/unit/test_dedupe.c.o"
  "CMakeFiles/test_dedupe.dir/tests/unit/test_dedupe.c.o.d"
  "test_dedupe"
  "test_dedupe.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_dedupe.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
