# -DSANDSTORM_FUZZ=ON (with CC=clang-14 CXX=clang++-14): every library is built with libFuzzer's
# coverage instrumentation plus ASan/UBSan, and tests/fuzz/ adds one fuzz-<target> binary per
# target. Build only those (`ninja fuzz-targets`); see tests/fuzz/README.md.
if(SANDSTORM_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "SANDSTORM_FUZZ needs clang (libFuzzer): CC=clang-14 CXX=clang++-14")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
