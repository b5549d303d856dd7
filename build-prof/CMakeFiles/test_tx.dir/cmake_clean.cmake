file(REMOVE_RECURSE
  "CMakeFiles/test_tx.dir/tests/unit/test_tx.c.o"
  "CMakeFiles/test_tx.dir/tests/unit/test_tx.c.o.d"
  "test_tx"
  "test_tx.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_tx.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
