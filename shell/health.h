// GET /api/health: unauthenticated liveness for load balancers, systemd checks and monitoring.
// 200 {"status":"ok",...} when the store answers a query, else 503 {"status":"error",...}.
// Served on the shell port (shell/shell.c++) and on the metrics listener (shell/metrics-page.h).
#pragma once

#include <sqlite3.h>

#include "http/server.h"

namespace ss::shell {

void respondHealth(http::Exchange& exchange, sqlite3* db);

}  // namespace ss::shell
