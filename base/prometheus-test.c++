#include "base/prometheus.h"

#include "tests/test-support.h"

TEST_CASE("Prometheus text: HELP and TYPE before samples, labels escaped", "[base]") {
  ss::PrometheusWriter w;
  w.family("sandstorm_x_total", "counter", "A test\\counter\nsecond line.");
  w.sample("sandstorm_x_total", {{"result", "a\"b\\c"}}, 3);
  w.family("sandstorm_g", "gauge", "A gauge.");
  w.sample("sandstorm_g", 0.25);
  auto text = w.finish();
  CHECK(text == kj::StringPtr(
      "# HELP sandstorm_x_total A test\\\\counter\\nsecond line.\n"
      "# TYPE sandstorm_x_total counter\n"
      "sandstorm_x_total{result=\"a\\\"b\\\\c\"} 3\n"
      "# HELP sandstorm_g A gauge.\n"
      "# TYPE sandstorm_g gauge\n"
      "sandstorm_g 0.25\n"));
}

TEST_CASE("Histogram buckets are cumulative and end with +Inf", "[base]") {
  ss::Histogram h({0.001, 0.01, 0.1});
  h.observeNs(500'000);        // 0.5 ms -> le=0.001
  h.observeNs(1'000'000);      // exactly on a bound: counts in that bucket (le means <=)
  h.observeNs(50'000'000);     // 50 ms -> le=0.1
  h.observeNs(2'000'000'000);  // 2 s -> +Inf only
  CHECK(h.total() == 4);
  ss::PrometheusWriter w;
  w.histogram("sandstorm_d_seconds", "Durations.", h);
  auto text = w.finish();
  CHECK(text == kj::StringPtr(
      "# HELP sandstorm_d_seconds Durations.\n"
      "# TYPE sandstorm_d_seconds histogram\n"
      "sandstorm_d_seconds_bucket{le=\"0.001\"} 2\n"
      "sandstorm_d_seconds_bucket{le=\"0.01\"} 2\n"
      "sandstorm_d_seconds_bucket{le=\"0.1\"} 3\n"
      "sandstorm_d_seconds_bucket{le=\"+Inf\"} 4\n"
      "sandstorm_d_seconds_sum 2.0515\n"
      "sandstorm_d_seconds_count 4\n"));
}

TEST_CASE("Prometheus values keep a Unix time's fraction (process_start_time_seconds)", "[base]") {
  ss::PrometheusWriter w;
  w.sample("t", 1795915230.125);
  w.sample("c", 0.03);
  CHECK(w.finish() == kj::StringPtr("t 1795915230.125\nc 0.03\n"));
}
