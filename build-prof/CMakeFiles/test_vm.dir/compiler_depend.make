# Empty compiler generated dependencies file for test_vm.
# This may be replaced when dependencies are built.
