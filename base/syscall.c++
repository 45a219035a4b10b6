#include "base/syscall.h"

#include <string.h>

namespace ss {

const char* errnoName(int error) {
  if (error < 0) error = -error;
  // strerrorname_np is glibc 2.32+, which Debian 12 has; fall back to the number's text.
  const char* name = strerrorname_np(error);
  return name != nullptr ? name : "unknown errno";
}

}  // namespace ss
