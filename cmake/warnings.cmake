# One warning list for all of our targets. -Werror only when asked (the dev preset), as KJ does,
# so a newer compiler's new warning never breaks a user's build.
set(SANDSTORM_WARNINGS
  -Wall -Wextra -Wshadow=local -Wcast-align -Wunused -Woverloaded-virtual
  -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough
  -Wno-missing-field-initializers -Wno-unused-parameter
  # GCC 12 reports false positives inside KJ templates at -O2; -fsanitize builds still catch
  # real uninitialized reads.
  -Wno-maybe-uninitialized)
if(SANDSTORM_WERROR)
  list(APPEND SANDSTORM_WARNINGS -Werror)
endif()

if(SANDSTORM_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()

# Our own targets call this; third-party code (llhttp) is compiled with -w instead.
function(sandstorm_target target)
  target_compile_options(${target} PRIVATE ${SANDSTORM_WARNINGS})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
endfunction()

# Fully static executables (programs that run inside grains, where no host libraries exist).
# Sanitizer runtimes cannot be linked statically, so these are built without them even in the
# asan preset; their tests still exercise them from sanitized test binaries.
function(sandstorm_static target)
  target_compile_options(${target} PRIVATE -fno-sanitize=all)
  target_link_options(${target} PRIVATE -static -pthread -fno-sanitize=all)
endfunction()
