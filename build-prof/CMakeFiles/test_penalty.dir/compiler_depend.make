# Empty compiler generated dependencies file for test_penalty.
# This may be replaced when dependencies are built.
