#!/usr/bin/env python3
"""/metrics and /api/health against the real daemon (issue #9 part 5).

Starts `sandstorm run --metrics-listen 127.0.0.1:<free port>`, installs the notes demo app,
opens a grain and adds a note through its origin, makes a 404, then scrapes /metrics and checks
that the counters moved, that no grain/user ID leaks into it, and that `promtool check metrics`
accepts it (skipped with the reason when promtool is missing). Also: /metrics is a 404 on the
shell port, /api/health answers on both ports.

usage: metrics-test.py <sandstorm binary> <notes.spk>"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
from harness import Daemon, free_port_range, grain_get, http, skip  # noqa: E402

BINARY, NOTES = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])


def value(text, sample):
    m = re.search("^" + re.escape(sample) + r" (\S+)$", text, re.M)
    assert m, f"no sample {sample!r} in:\n{text}"
    return float(m.group(1))


def main():
    metrics_port = free_port_range(1)
    with Daemon(BINARY, extra=["--metrics-listen", f"127.0.0.1:{metrics_port}"]) as d:
        d.setup_admin()
        app = d.install(NOTES)
        grain = d.new_grain(app, "metrics")
        port, cookie = d.open_grain(grain)
        r = http(port, "POST", "/add", "text=hello+metrics",
                 {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
        assert r.status == 303, r
        assert "hello metrics" in grain_get(port, cookie, "/").body
        assert d.api("GET", "/api/no-such-thing").status == 404

        # Not on the shell port, whatever the path's spelling.
        for path in ("/metrics", "/metrics?x=1"):
            r = http(d.port, "GET", path)
            assert r.status == 404 and "sandstorm_" not in r.body, r
        for p in (d.port, metrics_port):
            r = http(p, "GET", "/api/health")
            assert r.status == 200 and r.json()["status"] == "ok", (p, r)
            assert "no-store" in r.header("Cache-Control")

        # A keep-alive connection to the shell port stays open across the scrape.
        held = socket.create_connection(("127.0.0.1", d.port), timeout=10)
        held.sendall(b"GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert held.recv(4096).startswith(b"HTTP/1.1 200")
        r = http(metrics_port, "GET", "/metrics")
        assert r.status == 200, r
        assert r.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8", r.headers
        text = r.body
        print(text)
        assert re.search(r'^sandstorm_build_info\{version="[^"]+"\} 1$', text, re.M)
        assert value(text, 'sandstorm_http_requests_total{code_class="2xx"}') >= 5
        assert value(text, 'sandstorm_http_requests_total{code_class="3xx"}') >= 2  # start, /add
        assert value(text, 'sandstorm_http_requests_total{code_class="4xx"}') >= 3
        assert value(text, "sandstorm_http_request_duration_seconds_count") >= 8
        assert value(text, 'sandstorm_http_request_duration_seconds_bucket{le="+Inf"}') == \
            value(text, "sandstorm_http_request_duration_seconds_count")
        assert value(text, "sandstorm_http_connections_open") >= 1  # `held`
        held.close()
        assert value(text, "sandstorm_spliced_bytes_total") > 0  # the upload went by splice
        assert value(text, "sandstorm_grains_running") == 1
        assert value(text, "sandstorm_grains_starting") == 0
        assert value(text, 'sandstorm_grain_starts_total{result="ok"}') == 1
        assert value(text, "sandstorm_grain_start_duration_seconds_count") == 1
        assert value(text, 'sandstorm_spk_installs_total{result="installed"}') == 1
        assert value(text, "sandstorm_grain_oom_kills_total") == 0
        assert value(text, "process_resident_memory_bytes") > 1 << 20
        assert value(text, "process_open_fds") > 3
        assert value(text, "process_cpu_seconds_total") > 0
        start = value(text, "process_start_time_seconds")
        assert time.time() - 120 < start <= time.time() + 1, start
        for secret in (grain, app, d.cookie.split("=", 1)[1]):
            assert secret not in text, f"{secret} leaked into /metrics"

        promtool = shutil.which("promtool")
        if promtool is None:
            skip("promtool is not installed (apt package prometheus; scripts/install-deps.sh)")
        check = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                               capture_output=True, timeout=60)
        print("promtool:", check.returncode, check.stdout, check.stderr)
        assert check.returncode == 0, check.stderr
    print("PASS")


main()
