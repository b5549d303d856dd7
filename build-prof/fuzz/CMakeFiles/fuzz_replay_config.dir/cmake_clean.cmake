file(REMOVE_RECURSE
  "CMakeFiles/fuzz_replay_config.dir/config.c.o"
  "CMakeFiles/fuzz_replay_config.dir/config.c.o.d"
  "CMakeFiles/fuzz_replay_config.dir/replay.c.o"
  "CMakeFiles/fuzz_replay_config.dir/replay.c.o.d"
  "fuzz_replay_config"
  "fuzz_replay_config.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/fuzz_replay_config.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
