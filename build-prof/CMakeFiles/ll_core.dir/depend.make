# Empty dependencies file for ll_core.
# This may be replaced when dependencies are built.
