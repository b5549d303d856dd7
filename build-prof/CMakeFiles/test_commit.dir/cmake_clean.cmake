file(REMOVE_RECURSE
  "CMakeFiles/test_commit.dir/tests/unit/test_commit.c.o"
  "CMakeFiles/test_commit.dir/tests/unit/test_commit.c.o.d"
  "test_commit"
  "test_commit.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_commit.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
