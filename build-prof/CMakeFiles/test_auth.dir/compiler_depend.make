# Empty compiler generated dependencies file for test_auth.
# This may be replaced when dependencies are built.
