# Empty dependencies file for test_hub.
# This may be replaced when dependencies are built.
