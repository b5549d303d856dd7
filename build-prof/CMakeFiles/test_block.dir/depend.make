# Empty dependencies file for test_block.
# This may be replaced when dependencies are built.
