# Empty dependencies file for test_fanout.
# This may be replaced when dependencies are built.
