file(REMOVE_RECURSE
  "CMakeFiles/ll_verify_bench.dir/bench/verify_bench.c.o"
  "CMakeFiles/ll_verify_bench.dir/bench/verify_bench.c.o.d"
  "ll_verify_bench"
  "ll_verify_bench.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/ll_verify_bench.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
