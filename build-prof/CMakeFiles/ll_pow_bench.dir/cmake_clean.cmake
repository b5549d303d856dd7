file(REMOVE_RECURSE
  "CMakeFiles/ll_pow_bench.dir/bench/pow_bench.c.o"
  "CMakeFiles/ll_pow_bench.dir/bench/pow_bench.c.o.d"
  "ll_pow_bench"
  "ll_pow_bench.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/ll_pow_bench.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
