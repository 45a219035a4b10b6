// Prometheus text exposition format 0.0.4, hand-written (bookworm packages no C++ client and
// the format is small): every family gets "# HELP" and "# TYPE" before its samples.
//
//   PrometheusWriter w;
//   w.family("sandstorm_grains_running", "gauge", "Grains with a running sandbox.");
//   w.sample("sandstorm_grains_running", 3);
//   w.family("sandstorm_http_requests_total", "counter", "...");
//   w.sample("sandstorm_http_requests_total", {{"code_class", "2xx"}}, 10);
//
// Label values are escaped; callers keep labels low-cardinality (never IDs or paths).
#pragma once

#include <initializer_list>

#include <kj/string.h>
#include <kj/vector.h>

#include "base/histogram.h"

namespace ss {

constexpr const char* PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

struct Label {
  kj::StringPtr name;
  kj::StringPtr value;
};

class PrometheusWriter {
public:
  void family(kj::StringPtr name, kj::StringPtr type, kj::StringPtr help);
  void sample(kj::StringPtr name, double value);
  void sample(kj::StringPtr name, std::initializer_list<Label> labels, double value);
  void histogram(kj::StringPtr name, kj::StringPtr help, const Histogram& h);
  // A whole histogram family: _bucket{le=...} (cumulative, ending with +Inf), _sum, _count.

  kj::String finish();

private:
  void appendValue(double value);
  kj::Vector<char> out;
};

}  // namespace ss
