# Empty dependencies file for fuzz_replay_http.
# This may be replaced when dependencies are built.
