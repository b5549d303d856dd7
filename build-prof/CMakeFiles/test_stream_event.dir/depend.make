# Empty dependencies file for test_stream_event.
# This may be replaced when dependencies are built.
