# Empty dependencies file for fuzz_replay_tx.
# This may be replaced when dependencies are built.
