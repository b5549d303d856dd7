# Empty dependencies file for test_taskq.
# This may be replaced when dependencies are built.
