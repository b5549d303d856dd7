# Empty compiler generated dependencies file for fuzz_replay_streams.
# This may be replaced when dependencies are built.
