file(REMOVE_RECURSE
  "CMakeFiles/ll_vm_bench.dir/bench/vm_bench.c.o"
  "CMakeFiles/ll_vm_bench.dir/bench/vm_bench.c.o.d"
  "ll_vm_bench"
  "ll_vm_bench.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/ll_vm_bench.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
