file(REMOVE_RECURSE
  "CMakeFiles/test_commit_fault.dir/tests/unit/test_commit_fault.c.o"
  "CMakeFiles/test_commit_fault.dir/tests/unit/test_commit_fault.c.o.d"
  "test_commit_fault"
  "test_commit_fault.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_commit_fault.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
