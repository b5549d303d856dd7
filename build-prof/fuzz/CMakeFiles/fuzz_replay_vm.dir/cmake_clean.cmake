file(REMOVE_RECURSE
  "CMakeFiles/fuzz_replay_vm.dir/replay.c.o"
  "CMakeFiles/fuzz_replay_vm.dir/replay.c.o.d"
  "CMakeFiles/fuzz_replay_vm.dir/vm.c.o"
  "CMakeFiles/fuzz_replay_vm.dir/vm.c.o.d"
  "fuzz_replay_vm"
  "fuzz_replay_vm.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/fuzz_replay_vm.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
