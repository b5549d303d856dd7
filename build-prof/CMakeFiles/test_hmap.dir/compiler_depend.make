# Empty compiler generated dependencies file for test_hmap.
# This may be replaced when dependencies are built.
