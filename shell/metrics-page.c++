#include "shell/metrics-page.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <kj/debug.h>

#include "base/prometheus.h"
#include "config.h"
#include "shell/health.h"

namespace ss::shell {

namespace {

kj::String readSmallFile(const char* path) {
  int fd;
  KJ_SYSCALL(fd = open(path, O_RDONLY | O_CLOEXEC), path);
  KJ_DEFER(close(fd));
  char buffer[4096];
  ssize_t n;
  KJ_SYSCALL(n = read(fd, buffer, sizeof(buffer) - 1), path);
  return kj::heapString(buffer, n);
}

size_t countOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  KJ_REQUIRE(dir != nullptr, "cannot list /proc/self/fd", strerror(errno));
  KJ_DEFER(closedir(dir));
  size_t count = 0;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') count++;
  }
  return count - 1;  // the directory's own fd
}

struct ProcessFigures {
  double residentBytes = 0;
  double virtualBytes = 0;
  double cpuSeconds = 0;
  double startTimeSeconds = 0;  // since the epoch
};

ProcessFigures readProcess() {
  ProcessFigures f;
  long page = sysconf(_SC_PAGESIZE);
  long ticks = sysconf(_SC_CLK_TCK);
  // /proc/self/stat: fields after the ")" that ends the command name; starttime is field 22
  // (ticks after boot), vsize 23, rss 24 (pages); utime 14 and stime 15 (ticks).
  auto stat = readSmallFile("/proc/self/stat");
  KJ_IF_MAYBE(paren, stat.findLast(')')) {
    const char* p = stat.begin() + *paren + 2;
    unsigned long long field[30] = {};
    for (int i = 3; i <= 24 && *p != '\0'; i++) {
      if (i == 3) {  // state: one character
        p += 1;
      } else {
        field[i] = strtoull(p, const_cast<char**>(&p), 10);
      }
      while (*p == ' ') p++;
    }
    f.cpuSeconds = double(field[14] + field[15]) / ticks;
    f.virtualBytes = double(field[23]);
    f.residentBytes = double(field[24]) * page;
    // Boot time as now minus /proc/uptime (/proc/stat's btime line sits behind an "intr" line
    // that can be many KiB long).
    auto uptime = readSmallFile("/proc/uptime");
    timespec now;
    KJ_SYSCALL(clock_gettime(CLOCK_REALTIME, &now));
    double boot = double(now.tv_sec) + now.tv_nsec / 1e9 - strtod(uptime.cStr(), nullptr);
    f.startTimeSeconds = boot + double(field[22]) / ticks;
  }
  return f;
}

}  // namespace

kj::String MetricsPage::render() {
  PrometheusWriter w;
  auto& http = sources.http;
  auto& host = sources.grains;
  auto& grainCounts = host.metrics();
  auto& installs = sources.apps.installCounts();

  w.family("sandstorm_build_info", "gauge", "Always 1; the version is in the label.");
  w.sample("sandstorm_build_info", {{"version", SANDSTORM_VERSION}}, 1);

  w.family("sandstorm_http_requests_total", "counter",
           "HTTP responses sent (shell and grain ports), by status class.");
  const char* classes[] = {"other", "1xx", "2xx", "3xx", "4xx", "5xx"};
  for (size_t i = 0; i < 6; i++) {
    w.sample("sandstorm_http_requests_total", {{"code_class", classes[i]}},
             double(http.responsesByClass[i]));
  }
  w.histogram("sandstorm_http_request_duration_seconds",
              "From a request's dispatch to its response head being queued.",
              http.requestDuration);
  w.family("sandstorm_http_connections_open", "gauge", "Open client connections.");
  w.sample("sandstorm_http_connections_open", double(http.openConnections));
  w.family("sandstorm_websocket_connections", "gauge", "Connections tunnelling a WebSocket.");
  w.sample("sandstorm_websocket_connections", double(http.websocketsOpen));
  w.family("sandstorm_spliced_bytes_total", "counter",
           "Bytes moved with splice() (bodies, uploads and WebSocket streams).");
  w.sample("sandstorm_spliced_bytes_total", double(sources.reactor.splicedBytes()));

  w.family("sandstorm_grains_running", "gauge", "Grains with a running sandbox.");
  w.sample("sandstorm_grains_running", double(host.runningCount()));
  w.family("sandstorm_grains_starting", "gauge",
           "Running grains whose first session is not answered yet.");
  w.sample("sandstorm_grains_starting", double(host.startingCount()));
  w.family("sandstorm_grain_starts_total", "counter", "Grain starts, by result.");
  w.sample("sandstorm_grain_starts_total", {{"result", "ok"}}, double(grainCounts.startsOk));
  w.sample("sandstorm_grain_starts_total", {{"result", "failed"}},
           double(grainCounts.startsFailed));
  w.histogram("sandstorm_grain_start_duration_seconds",
              "From spawning a grain's sandbox to its first session being answered.",
              grainCounts.startDuration);
  w.family("sandstorm_grain_idle_stops_total", "counter", "Grains stopped for being idle.");
  w.sample("sandstorm_grain_idle_stops_total", double(grainCounts.idleStops));
  w.family("sandstorm_grain_oom_kills_total", "counter",
           "Processes the kernel OOM-killed in grains (cgroup memory events).");
  w.sample("sandstorm_grain_oom_kills_total", double(host.oomKillsTotal()));

  w.family("sandstorm_spk_installs_total", "counter", "Package installs, by result.");
  w.sample("sandstorm_spk_installs_total", {{"result", "installed"}}, double(installs.installed));
  w.sample("sandstorm_spk_installs_total", {{"result", "already_installed"}},
           double(installs.alreadyInstalled));
  w.sample("sandstorm_spk_installs_total", {{"result", "upgrade_pending"}},
           double(installs.upgradePending));
  w.sample("sandstorm_spk_installs_total", {{"result", "refused"}}, double(installs.refused));

  auto process = readProcess();
  w.family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  w.sample("process_resident_memory_bytes", process.residentBytes);
  w.family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
  w.sample("process_virtual_memory_bytes", process.virtualBytes);
  w.family("process_cpu_seconds_total", "counter", "User and system CPU time in seconds.");
  w.sample("process_cpu_seconds_total", process.cpuSeconds);
  w.family("process_start_time_seconds", "gauge",
           "Start time of the process since the Unix epoch in seconds.");
  w.sample("process_start_time_seconds", process.startTimeSeconds);
  w.family("process_open_fds", "gauge", "Number of open file descriptors.");
  w.sample("process_open_fds", double(countOpenFds()));
  rlimit limit;
  KJ_SYSCALL(getrlimit(RLIMIT_NOFILE, &limit));
  w.family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
  w.sample("process_max_fds", double(limit.rlim_cur));
  return w.finish();
}

void MetricsPage::handle(http::Exchange& exchange) {
  auto& request = exchange.request();
  auto target = request.target.substr(0, request.target.find('?'));
  if (request.method != "GET" && request.method != "HEAD") {
    exchange.respond(405, {{"Allow", "GET, HEAD"}, {"Content-Type", "text/plain"}},
                     "405 Method Not Allowed\n");
  } else if (target == "/metrics") {
    auto text = render();
    exchange.respond(200, {{"Content-Type", PROMETHEUS_CONTENT_TYPE},
                           {"Cache-Control", "no-store"}},
                     std::string_view(text.begin(), text.size()));
  } else if (target == "/api/health") {
    respondHealth(exchange, sources.db);
  } else {
    exchange.respond(404, {{"Content-Type", "text/plain"}},
                     "404 Not Found: this port serves /metrics and /api/health\n");
  }
}

}  // namespace ss::shell
