file(REMOVE_RECURSE
  "CMakeFiles/fuzz_replay_http.dir/http.c.o"
  "CMakeFiles/fuzz_replay_http.dir/http.c.o.d"
  "CMakeFiles/fuzz_replay_http.dir/node.c.o"
  "CMakeFiles/fuzz_replay_http.dir/node.c.o.d"
  "CMakeFiles/fuzz_replay_http.dir/replay.c.o"
  "CMakeFiles/fuzz_replay_http.dir/replay.c.o.d"
  "fuzz_replay_http"
  "fuzz_replay_http.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/fuzz_replay_http.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
