# Empty dependencies file for ll_vm_bench.
# This may be replaced when dependencies are built.
