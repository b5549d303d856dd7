# CMake generated Testfile for 
# Source directory: /work/main/fuzz
# Build directory: /work/main/build-prof/fuzz
# 
# This file includes the relevant testing commands required for 
# testing this directory and lists subdirectories to be tested as well.
add_test(fuzz/replay_http "/work/main/build-prof/fuzz/fuzz_replay_http" "/work/main/fuzz/corpus/http" "/work/main/fuzz/crashes/http")
set_tests_properties(fuzz/replay_http PROPERTIES  TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/fuzz/CMakeLists.txt;35;add_test;/work/main/fuzz/CMakeLists.txt;0;")
add_test(fuzz/replay_ws "/work/main/build-prof/fuzz/fuzz_replay_ws" "/work/main/fuzz/corpus/ws" "/work/main/fuzz/crashes/ws")
set_tests_properties(fuzz/replay_ws PROPERTIES  TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/fuzz/CMakeLists.txt;35;add_test;/work/main/fuzz/CMakeLists.txt;0;")
add_test(fuzz/replay_streams "/work/main/build-prof/fuzz/fuzz_replay_streams" "/work/main/fuzz/corpus/streams" "/work/main/fuzz/crashes/streams")
set_tests_properties(fuzz/replay_streams PROPERTIES  TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/fuzz/CMakeLists.txt;35;add_test;/work/main/fuzz/CMakeLists.txt;0;")
add_test(fuzz/replay_tx "/work/main/build-prof/fuzz/fuzz_replay_tx" "/work/main/fuzz/corpus/tx" "/work/main/fuzz/crashes/tx")
set_tests_properties(fuzz/replay_tx PROPERTIES  TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/fuzz/CMakeLists.txt;35;add_test;/work/main/fuzz/CMakeLists.txt;0;")
add_test(fuzz/replay_config "/work/main/build-prof/fuzz/fuzz_replay_config" "/work/main/fuzz/corpus/config" "/work/main/fuzz/crashes/config")
set_tests_properties(fuzz/replay_config PROPERTIES  TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/fuzz/CMakeLists.txt;35;add_test;/work/main/fuzz/CMakeLists.txt;0;")
add_test(fuzz/replay_vm "/work/main/build-prof/fuzz/fuzz_replay_vm" "/work/main/fuzz/corpus/vm" "/work/main/fuzz/crashes/vm")
set_tests_properties(fuzz/replay_vm PROPERTIES  TIMEOUT "300" _BACKTRACE_TRIPLES "/work/main/fuzz/CMakeLists.txt;35;add_test;/work/main/fuzz/CMakeLists.txt;0;")
