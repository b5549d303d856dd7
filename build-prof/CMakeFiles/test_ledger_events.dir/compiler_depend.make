# Empty compiler generated dependencies file for test_ledger_events.
# This may be replaced when dependencies are built.
