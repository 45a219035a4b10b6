-- wrk -s stats.lua : at the end prints one machine-readable RESULT line (parsed by perf/lib/perflib.py).
-- Latencies in microseconds; errors split by kind (status = non-2xx/3xx responses).
done = function(summary, latency, requests)
  local e = summary.errors
  local errs = e.connect + e.read + e.write + e.status + e.timeout
  local secs = summary.duration / 1e6
  io.write(string.format(
    "RESULT rps=%.1f bytes_per_s=%.1f p50_us=%d p90_us=%d p99_us=%d p999_us=%d max_us=%d mean_us=%.1f " ..
    "reqs=%d errors=%d err_connect=%d err_read=%d err_write=%d err_status=%d err_timeout=%d\n",
    summary.requests / secs, summary.bytes / secs,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean, summary.requests, errs,
    e.connect, e.read, e.write, e.status, e.timeout))
end
