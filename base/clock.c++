#include "base/clock.h"

#include <time.h>

namespace ss {

MonoNs monotonicNowNs() {
  timespec ts;
  // CLOCK_MONOTONIC cannot fail on Linux with a valid pointer; no check needed beyond that.
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<MonoNs>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

}  // namespace ss
