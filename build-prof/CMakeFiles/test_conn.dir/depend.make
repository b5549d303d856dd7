# Empty dependencies file for test_conn.
# This may be replaced when dependencies are built.
