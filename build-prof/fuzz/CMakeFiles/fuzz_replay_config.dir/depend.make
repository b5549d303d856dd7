# Empty dependencies file for fuzz_replay_config.
# This may be replaced when dependencies are built.
