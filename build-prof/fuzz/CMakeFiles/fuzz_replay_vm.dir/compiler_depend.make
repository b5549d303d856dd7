# Empty compiler generated dependencies file for fuzz_replay_vm.
# This may be replaced when dependencies are built.
