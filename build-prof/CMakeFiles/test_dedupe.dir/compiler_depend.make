# Empty compiler generated dependencies file for test_dedupe.
# This may be replaced when dependencies are built.
