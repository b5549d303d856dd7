# Empty compiler generated dependencies file for test_commit_fault.
# This may be replaced when dependencies are built.
