// The metrics listener's handler (`sandstorm run --metrics-listen ADDR:PORT`): GET /metrics in
// Prometheus text format 0.0.4 and GET /api/health. It runs on its own port, never the shell's:
// behind a reverse proxy every shell client is loopback, so "loopback only" could not protect
// it there.
//
// Families (README "Monitoring"): build info, HTTP responses by code class and their latency,
// open connections and WebSockets, bytes spliced, grains running/starting, grain starts by
// result and their duration, idle stops, OOM kills, spk installs by result, and the standard
// process_* figures from /proc/self. No label ever carries a grain, user or path.
#pragma once

#include <sqlite3.h>

#include "http/metrics.h"
#include "http/server.h"
#include "reactor/reactor.h"
#include "shell/apps.h"
#include "shell/grain-host.h"

namespace ss::shell {

struct MetricsSources {
  reactor::Reactor& reactor;
  const http::HttpMetrics& http;
  GrainHost& grains;
  const Apps& apps;
  sqlite3* db;
};

class MetricsPage final: public http::Handler {
public:
  explicit MetricsPage(MetricsSources sources): sources(sources) {}
  void handle(http::Exchange& exchange) override;

  kj::String render();
  // The whole exposition (what GET /metrics answers).

private:
  MetricsSources sources;
};

}  // namespace ss::shell
