file(REMOVE_RECURSE
  "CMakeFiles/fuzz_replay_ws.dir/node.c.o"
  "CMakeFiles/fuzz_replay_ws.dir/node.c.o.d"
  "CMakeFiles/fuzz_replay_ws.dir/replay.c.o"
  "CMakeFiles/fuzz_replay_ws.dir/replay.c.o.d"
  "CMakeFiles/fuzz_replay_ws.dir/ws.c.o"
  "CMakeFiles/fuzz_replay_ws.dir/ws.c.o.d"
  "fuzz_replay_ws"
  "fuzz_replay_ws.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/fuzz_replay_ws.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
