# Empty dependencies file for test_vm_meter.
# This may be replaced when dependencies are built.
