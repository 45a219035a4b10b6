# Catch2 v2 (Debian 12) has no SKIP(): our tests/main.c++ exits 77 when a test skipped with a
# printed reason, and CTest reports that as "Skipped", never as a pass. Every test gets a
# time limit.
include(Catch)
add_library(sandstorm-test-main STATIC ${PROJECT_SOURCE_DIR}/tests/test-main.c++)
target_link_libraries(sandstorm-test-main PUBLIC Catch2::Catch2)
target_include_directories(sandstorm-test-main PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})

set(SANDSTORM_TEST_TIMEOUT 60 CACHE STRING "Default per-test time limit in seconds")

# sandstorm_add_tests(name SOURCES... LIBS...): one Catch2 binary, each TEST_CASE its own CTest
# test with a time limit.
function(sandstorm_add_tests name)
  cmake_parse_arguments(T "" "TIMEOUT" "SOURCES;LIBS" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT ${SANDSTORM_TEST_TIMEOUT})
  endif()
  add_executable(${name} ${T_SOURCES})
  sandstorm_target(${name})
  target_link_libraries(${name} PRIVATE sandstorm-test-main ${T_LIBS})
  catch_discover_tests(${name}
    TEST_PREFIX "${name}: "
    PROPERTIES TIMEOUT ${T_TIMEOUT} SKIP_RETURN_CODE 77)
endfunction()
