file(REMOVE_RECURSE
  "CMakeFiles/test_subscriber.dir/tests/unit/test_subscriber.c.o"
  "CMakeFiles/test_subscriber.dir/tests/unit/test_subscriber.c.o.d"
  "test_subscriber"
  "test_subscriber.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_subscriber.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
