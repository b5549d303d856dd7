# Empty compiler generated dependencies file for test_sse.
# This may be replaced when dependencies are built.
