# Empty compiler generated dependencies file for ll_pow_bench.
# This may be replaced when dependencies are built.
