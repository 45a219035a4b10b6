// Monotonic time for deadlines. The reactor reads the clock once per loop turn and hands that
// value around, so thousands of deadline checks cost one clock_gettime.
#pragma once

#include <stdint.h>

namespace ss {

using MonoMs = uint64_t;  // milliseconds on CLOCK_MONOTONIC
using MonoNs = uint64_t;  // nanoseconds on CLOCK_MONOTONIC

MonoNs monotonicNowNs();
inline MonoMs monotonicNowMs() { return monotonicNowNs() / 1'000'000; }

}  // namespace ss
