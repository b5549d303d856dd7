file(REMOVE_RECURSE
  "CMakeFiles/fuzz_replay_streams.dir/node.c.o"
  "CMakeFiles/fuzz_replay_streams.dir/node.c.o.d"
  "CMakeFiles/fuzz_replay_streams.dir/replay.c.o"
  "CMakeFiles/fuzz_replay_streams.dir/replay.c.o.d"
  "CMakeFiles/fuzz_replay_streams.dir/streams.c.o"
  "CMakeFiles/fuzz_replay_streams.dir/streams.c.o.d"
  "fuzz_replay_streams"
  "fuzz_replay_streams.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/fuzz_replay_streams.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
