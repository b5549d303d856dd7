file(REMOVE_RECURSE
  "CMakeFiles/test_stream_event.dir/tests/unit/test_stream_event.c.o"
  "CMakeFiles/test_stream_event.dir/tests/unit/test_stream_event.c.o.d"
  "test_stream_event"
  "test_stream_event.pdb"
)

# Per-language clean rules from dependency scanning.
foreach(lang C)
  include(CMakeFiles/test_stream_event.dir/cmake_clean_${lang}.cmake OPTIONAL)
endforeach()
