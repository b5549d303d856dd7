# Empty dependencies file for test_vm_sandbox.
# This may be replaced when dependencies are built.
