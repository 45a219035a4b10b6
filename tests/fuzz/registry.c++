#include "tests/fuzz/fuzz.h"

#include <string.h>

namespace ss::fuzz {

namespace {
struct Entry {
  const char* name;
  Body body;
};
// Static registrations run before main(); a fixed table needs no allocation order.
Entry entries[16];
size_t count = 0;
}  // namespace

Registration::Registration(const char* name, Body body) {
  if (count == sizeof(entries) / sizeof(entries[0])) fail(__FILE__, __LINE__, "too many targets");
  entries[count++] = {name, body};
}

Body find(const char* name) {
  for (size_t i = 0; i < count; i++) {
    if (strcmp(entries[i].name, name) == 0) return entries[i].body;
  }
  return nullptr;
}

const char* onlyTargetName() {
  if (count != 1) fail(__FILE__, __LINE__, "a libFuzzer binary links exactly one target");
  return entries[0].name;
}

void fail(const char* file, int line, const char* what) {
  fprintf(stderr, "FUZZ_CHECK failed at %s:%d: %s\n", file, line, what);
  abort();
}

}  // namespace ss::fuzz
