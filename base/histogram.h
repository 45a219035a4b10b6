// A Prometheus-style histogram with fixed bucket bounds: observe() is a short scan and two
// integer increments (no allocation, no lock: the daemon is one thread), so it can sit on the
// request path. Rendering (base/prometheus.h) makes the counts cumulative.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <initializer_list>

#include <kj/debug.h>

namespace ss {

class Histogram {
public:
  static constexpr size_t MAX_BUCKETS = 16;

  explicit Histogram(std::initializer_list<double> upperBoundsSeconds) {
    KJ_ASSERT(upperBoundsSeconds.size() <= MAX_BUCKETS);
    for (double b: upperBoundsSeconds) {
      KJ_ASSERT(count == 0 || b > bounds[count - 1], "bucket bounds must increase");
      bounds[count] = b;
      boundsNs[count] = uint64_t(b * 1e9);
      count++;
    }
  }

  void observeNs(uint64_t ns) {
    size_t i = 0;
    while (i < count && ns > boundsNs[i]) i++;
    buckets[i]++;  // buckets[count] is +Inf
    sumNs += ns;
  }

  size_t bucketCount() const { return count; }           // without +Inf
  double bound(size_t i) const { return bounds[i]; }
  uint64_t inBucket(size_t i) const { return buckets[i]; }  // not cumulative; i == count: +Inf
  uint64_t total() const {
    uint64_t n = 0;
    for (size_t i = 0; i <= count; i++) n += buckets[i];
    return n;
  }
  double sumSeconds() const { return double(sumNs) / 1e9; }

private:
  size_t count = 0;
  double bounds[MAX_BUCKETS] = {};
  uint64_t boundsNs[MAX_BUCKETS] = {};
  uint64_t buckets[MAX_BUCKETS + 1] = {};
  uint64_t sumNs = 0;
};

}  // namespace ss
