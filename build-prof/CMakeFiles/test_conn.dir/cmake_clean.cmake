file(REMOVE_RECURSE
  "CMakeFiles/test_conn.dir/tests/unit/test_conn.c.o"
  "CMakeFiles/test_conn.dir/tests/unit/test_conn.c.o.d"
  "test_conn"
  "test_conn.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_conn.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
