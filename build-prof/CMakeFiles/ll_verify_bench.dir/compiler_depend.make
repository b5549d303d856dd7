# Empty compiler generated dependencies file for ll_verify_bench.
# This may be replaced when dependencies are built.
