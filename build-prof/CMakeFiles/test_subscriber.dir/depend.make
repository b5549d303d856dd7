# Empty dependencies file for test_subscriber.
# This may be replaced when dependencies are built.
