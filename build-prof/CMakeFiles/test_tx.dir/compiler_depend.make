# Empty compiler generated dependencies file for test_tx.
# This may be replaced when dependencies are built.
