// Counters for /metrics, shared by every http::Server of the daemon (the shell port and each
// grain port): plain integers bumped on the one reactor thread, no locks, no allocation.
#pragma once

#include <stdint.h>

#include "base/histogram.h"

namespace ss::http {

struct HttpMetrics {
  uint64_t responsesByClass[6] = {};  // [1]..[5]: 1xx..5xx; [0]: anything else
  Histogram requestDuration{{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
                             5, 10}};
  // From the complete request head to the response head being queued (time to first byte as
  // the server sees it; a streamed body's transfer is not included).
  uint64_t openConnections = 0;
  uint64_t websocketsOpen = 0;  // connections tunnelling after a 101

  void countResponse(uint16_t status) { responsesByClass[status >= 100 && status < 600 ? status / 100 : 0]++; }
};

}  // namespace ss::http
