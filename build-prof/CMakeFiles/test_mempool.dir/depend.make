# Empty dependencies file for test_mempool.
# This may be replaced when dependencies are built.
