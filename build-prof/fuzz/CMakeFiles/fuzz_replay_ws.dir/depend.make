# Empty dependencies file for fuzz_replay_ws.
# This may be replaced when dependencies are built.
