file(REMOVE_RECURSE
  "CMakeFiles/fuzz_replay_tx.dir/replay.c.o"
  "CMakeFiles/fuzz_replay_tx.dir/replay.c.o.d"
  "CMakeFiles/fuzz_replay_tx.dir/tx.c.o"
  "CMakeFiles/fuzz_replay_tx.dir/tx.c.o.d"
  "fuzz_replay_tx"
  "fuzz_replay_tx.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/fuzz_replay_tx.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
