file(REMOVE_RECURSE
  "CMakeFiles/test_ledger_events.dir/tests/unit/test_ledger_events.c.o"
  "CMakeFiles/test_ledger_events.dir/tests/unit/test_ledger_events.c.o.d"
  "test_ledger_events"
  "test_ledger_events.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_ledger_events.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
