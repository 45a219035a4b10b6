#!/usr/bin/env python3
"""Load the real daemon (issue #10 part 4). Not a unit test: the full sizes take minutes and
are meant for a quiet machine; `--scale` shrinks them (ctest runs a small, non-flaky version).

    load.py <sandstorm> <grain-test.spk> [--idle N] [--slow N] [--seconds S] [--grains N]
            [--hogs] [--scale F]

1. N idle connections + a slowloris of M connections (one header byte every 2 s, reconnecting
   when the server's head deadline closes them) while a probe measures GET /api/session on the
   shell port: p50/p99. Goal p99 < 200 ms.
2. G grains (one grain port each) under concurrent GET /echo load: requests/s, errors.
3. A memory-hog grain and a fork-bomb grain at once (their cgroups contain them) while the
   probe and another grain are served.
Before and after: the daemon's fds and RSS (must return to baseline)."""
import argparse
import os
import resource
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
from harness import Daemon, grain_get, http  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("binary")
ap.add_argument("spk")
ap.add_argument("--idle", type=int, default=10000)
ap.add_argument("--slow", type=int, default=2000)
ap.add_argument("--seconds", type=float, default=30)
ap.add_argument("--grains", type=int, default=100)
ap.add_argument("--grain-requests", type=int, default=20000)
ap.add_argument("--hogs", action="store_true")
ap.add_argument("--scale", type=float, default=1.0)
ap.add_argument("--check", action="store_true", help="exit 1 when a goal is missed")
a = ap.parse_args()
idle_n, slow_n = int(a.idle * a.scale), int(a.slow * a.scale)
grains_n = max(2, int(a.grains * a.scale))
failures = []

soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
if idle_n + slow_n + 200 > hard:
    sys.exit(f"need {idle_n + slow_n + 200} descriptors, the hard limit is {hard}")


def goal(ok, what):
    print(("  ok   " if ok else "  MISS ") + what, flush=True)
    if not ok:
        failures.append(what)


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p))] * 1000 if v else float("nan")


class Probe(threading.Thread):
    """GET /api/session on a fresh connection every 20 ms; latencies in seconds."""
    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.lat, self.errors, self.stop = port, [], 0, False

    def run(self):
        while not self.stop:
            t0 = time.monotonic()
            try:
                ok = http(self.port, "GET", "/api/session", timeout=10).status == 200
            except OSError:
                ok = False
            if ok:
                self.lat.append(time.monotonic() - t0)
            else:
                self.errors += 1
            time.sleep(0.02)


def connect_many(port, n):
    socks = []
    for i in range(n):
        s = socket.socket()
        s.setblocking(True)
        s.connect(("127.0.0.1", port))
        socks.append(s)
    return socks


def phase_connections(d):
    print(f"== {idle_n} idle connections + {slow_n} slowloris, {a.seconds:.0f} s", flush=True)
    probe = Probe(d.port)
    probe.start()
    time.sleep(1)
    quiet = list(probe.lat)
    t0 = time.monotonic()
    idle = connect_many(d.port, idle_n)
    slow = connect_many(d.port, slow_n)
    print(f"  connected in {time.monotonic() - t0:.1f} s; daemon fds {d.fd_count()}, "
          f"RSS {d.rss_kib()} KiB", flush=True)
    probe.lat.clear()
    head = b"GET / HTTP/1.1\r\nHost: x\r\nX-a: " + b"a" * 10000
    pos = [0] * len(slow)
    reconnects = 0
    end = time.monotonic() + a.seconds
    peak_rss = 0
    while time.monotonic() < end:
        for i, s in enumerate(slow):
            try:
                s.send(head[pos[i]:pos[i] + 1])
                pos[i] += 1
            except OSError:  # closed at the head deadline: a slowloris comes straight back
                s.close()
                slow[i] = socket.create_connection(("127.0.0.1", d.port))
                pos[i] = 0
                reconnects += 1
        peak_rss = max(peak_rss, d.rss_kib())
        time.sleep(2)
    probe.stop = True
    probe.join()
    lat = probe.lat
    print(f"  probe idle machine: p50 {pct(quiet, .5):.1f} ms p99 {pct(quiet, .99):.1f} ms")
    print(f"  probe under load: {len(lat)} requests, {probe.errors} errors, "
          f"p50 {pct(lat, .5):.1f} ms, p99 {pct(lat, .99):.1f} ms, max {pct(lat, 1):.1f} ms")
    print(f"  slowloris connections closed by the head deadline and reopened: {reconnects}; "
          f"daemon peak RSS {peak_rss} KiB, fds {d.fd_count()}")
    goal(pct(lat, .99) < 200 and probe.errors == 0, "shell probe p99 < 200 ms, no errors")
    for s in idle + slow:
        s.close()


def phase_grains(d, app):
    print(f"== {grains_n} grains under concurrent load", flush=True)
    t0 = time.monotonic()
    grains = [d.open_grain(d.new_grain(app, f"load{i}")) for i in range(grains_n)]
    for port, cookie in grains:  # start them all (cold starts)
        assert grain_get(port, cookie, "/echo", timeout=60).status == 200
    print(f"  {grains_n} grains created and started in {time.monotonic() - t0:.1f} s")
    per = max(1, int(a.grain_requests * a.scale) // grains_n)
    errors, lat = [0], []
    lock = threading.Lock()

    def worker(port, cookie):
        # Keep-alive connection per grain, sequential requests.
        s = socket.create_connection(("127.0.0.1", port), timeout=30)
        req = f"GET /echo HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n\r\n".encode()
        mine = []
        buf = b""
        for _ in range(per):
            t = time.monotonic()
            s.sendall(req)
            while True:
                h, sep, rest = buf.partition(b"\r\n\r\n")
                if sep:
                    hl = h.decode("latin-1").lower()
                    n = int(hl.split("content-length:")[1].split("\r\n")[0])
                    if len(rest) >= n:
                        buf = rest[n:]
                        if not hl.startswith("http/1.1 200"):
                            with lock:
                                errors[0] += 1
                        break
                chunk = s.recv(65536)
                if not chunk:
                    with lock:
                        errors[0] += 1
                    return
                buf += chunk
            mine.append(time.monotonic() - t)
        s.close()
        with lock:
            lat.extend(mine)
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, args=g) for g in grains]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - t0
    print(f"  {len(lat)} requests in {took:.1f} s = {len(lat) / took:.0f}/s, "
          f"{errors[0]} errors, p50 {pct(lat, .5):.1f} ms, p99 {pct(lat, .99):.1f} ms; "
          f"daemon RSS {d.rss_kib()} KiB")
    goal(errors[0] == 0, f"{grains_n} grains: no errors")
    return grains


def phase_hogs(d, app):
    print("== a memory hog and a fork bomb at once", flush=True)
    hog_port, hog_cookie = d.open_grain(d.new_grain(app, "hog"))
    bomb_port, bomb_cookie = d.open_grain(d.new_grain(app, "bomb"))
    ok_port, ok_cookie = d.open_grain(d.new_grain(app, "bystander"))
    probe = Probe(d.port)
    probe.start()
    out = {}
    ts = [threading.Thread(target=lambda: out.__setitem__(
              "hog", grain_get(hog_port, hog_cookie, "/hog?mb=2048", timeout=60))),
          threading.Thread(target=lambda: out.__setitem__(
              "bomb", grain_get(bomb_port, bomb_cookie, "/forkbomb", timeout=60)))]
    for t in ts:
        t.start()
    served = 0
    while any(t.is_alive() for t in ts):
        served += grain_get(ok_port, ok_cookie, "/echo").status == 200
        time.sleep(0.05)
    probe.stop = True
    probe.join()
    print(f"  hog: {out['hog'].status} {out['hog'].body[:120]!r}")
    print(f"  bomb: {out['bomb'].status} {out['bomb'].body[:120]!r}")
    print(f"  bystander grain served {served} requests meanwhile; shell probe p99 "
          f"{pct(probe.lat, .99):.1f} ms, {probe.errors} errors")
    goal(out["hog"].status != 200, "the hog is stopped by its memory limit (not 200)")
    goal(out["bomb"].status == 200 and out["bomb"].body.startswith("EAGAIN"),
         "the fork bomb hits its process limit (EAGAIN)")
    goal(pct(probe.lat, .99) < 200 and probe.errors == 0 and served > 0,
         "shell and other grains served meanwhile")


with Daemon(a.binary, grain_ports=grains_n + 8, extra=["--idle-timeout", "5"]) as d:
    d.setup_admin()
    app = d.install(a.spk)
    time.sleep(0.5)
    fd0, rss0 = d.fd_count(), d.rss_kib()
    print(f"baseline: daemon fds {fd0}, RSS {rss0} KiB")
    phase_connections(d)
    ports = 0  # each opened grain keeps its origin's listening socket (until its sessions end)
    if grains_n:
        phase_grains(d, app)
        ports += grains_n
    if a.hogs:
        phase_hogs(d, app)
        ports += 3
    # Grains stop after 5 s idle; connections are closed: everything must come back.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and d.fd_count() > fd0 + ports + 4:
        time.sleep(0.5)
    fd1, rss1 = d.fd_count(), d.rss_kib()
    print(f"after: daemon fds {fd1} (baseline {fd0} + {ports} grain-port listeners), "
          f"RSS {rss1} KiB (baseline {rss0})")
    goal(fd1 <= fd0 + ports + 4, "fds back to baseline (+-4, plus the grain ports kept bound)")
    # The allocator keeps some freed memory; a leak would grow with every connection.
    goal(rss1 <= rss0 * 1.1 + 8192, "RSS back near baseline (10% + 8 MiB)")
print("FAILED: " + "; ".join(failures) if failures else "all goals met")
sys.exit(1 if failures and a.check else 0)
