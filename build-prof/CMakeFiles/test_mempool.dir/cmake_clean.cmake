file(REMOVE_RECURSE
  "CMakeFiles/test_mempool.dir/tests/unit/test_mempool.c.o"
  "CMakeFiles/test_mempool.dir/tests/unit/test_mempool.c.o.d"
  "test_mempool"
  "test_mempool.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_mempool.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
