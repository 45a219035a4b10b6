#!/usr/bin/env python3
"""Hold N idle keep-alive connections to a server and measure its memory growth per connection.

Usage: idle_conns.py --port P --pid SERVER_PID --n N --mode fresh|used [--hold S] [--path /1k]
  fresh: connect only, never send a request
  used:  one GET <path> per connection (all sent, then all answered), then idle
After --hold seconds the server's RSS/PSS (process tree of --pid) is compared with the value
before the connections were opened. Then every connection is checked: still open (no EOF/RST)
and still answering a GET. Prints one JSON object on stdout.
Source addresses 127.0.0.1/127.0.0.2 are alternated when N > 16000 (ephemeral-port headroom).
"""
import argparse
import json
import os
import resource
import selectors
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from perflib import (accept_backlog, meminfo_kb, parse_response, tcp_mem_pages, tree_fd_count,  # noqa: E402
                     tree_mem_kb)

IP_BIND_ADDRESS_NO_PORT = 24


def snap(pid):
    rss, pss = tree_mem_kb(pid)
    return {"rss_kb": rss, "pss_kb": pss, "fds": tree_fd_count(pid),
            "slab_kb": meminfo_kb("Slab"), "tcp_mem_pages": tcp_mem_pages()}


def request_all(socks, req, deadline_s):
    """Send req on every socket, then read one response from each. Returns {sock: status}."""
    for s in socks:
        s.setblocking(True)
        try:
            s.sendall(req)
        except OSError:
            pass
    sel = selectors.DefaultSelector()
    bufs, res = {}, {}
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        bufs[s] = b""
    end = time.monotonic() + deadline_s
    while len(bufs) > len(res) and time.monotonic() < end:
        for key, _ in sel.select(timeout=1.0):
            s = key.fileobj
            try:
                d = s.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                d = b""
            if not d:
                res[s] = None
                sel.unregister(s)
                continue
            bufs[s] += d
            try:
                r = parse_response(bufs[s])
            except ValueError:
                r = (0, len(bufs[s]), {}, b"")
            if r:
                res[s] = r[0]
                sel.unregister(s)
    sel.close()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--mode", choices=("fresh", "used"), required=True)
    ap.add_argument("--hold", type=float, default=3.0)
    ap.add_argument("--path", default="/1k")
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < a.n + 64:
        sys.exit(f"idle_conns: fd hard limit {hard} < N+64")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    srcs = ["127.0.0.1", "127.0.0.2"] if a.n > 16000 else [None]
    req = f"GET {a.path} HTTP/1.1\r\nHost: {a.host}:{a.port}\r\n\r\n".encode()

    time.sleep(0.5)
    before = snap(a.pid)
    socks, failed, t0 = [], 0, time.monotonic()
    for i in range(a.n):
        if time.monotonic() - t0 > 120:
            failed += a.n - i
            break
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            src = srcs[i % len(srcs)]
            if src:
                s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
                s.bind((src, 0))
            s.settimeout(10)
            s.connect((a.host, a.port))
            socks.append(s)
        except OSError:
            s.close()
            failed += 1
    open_s = time.monotonic() - t0
    first = {}
    if a.mode == "used":
        first = request_all(socks, req, 60)
    first_ok = sum(1 for s in socks if first.get(s) == 200)
    # let the server accept everything before measuring (listen-queue length from /proc/net/tcp)
    end = time.monotonic() + 10
    while accept_backlog(a.port) > 0 and time.monotonic() < end:
        time.sleep(0.1)
    unaccepted = accept_backlog(a.port)
    time.sleep(a.hold)
    after = snap(a.pid)

    # held? an idle keep-alive connection must be neither readable-EOF nor reset
    held, unexpected = [], 0
    for s in socks:
        s.setblocking(False)
        try:
            d = s.recv(1, socket.MSG_PEEK)
            if d:
                unexpected += 1      # server sent something unasked (e.g. a 408); counts as not held
        except (BlockingIOError, InterruptedError):
            held.append(s)
        except OSError:
            pass
    # still answering?
    second = request_all(held, req, 60)
    answered = sum(1 for s in held if second.get(s) == 200)
    for s in socks:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST: no TIME_WAIT
        except OSError:
            pass
        s.close()

    opened = len(socks)
    d = {k: after[k] - before[k] for k in before}
    per = lambda kb: kb * 1024 / opened if opened else None
    print(json.dumps({
        "mode": a.mode, "n": a.n, "opened": opened, "connect_failed": failed,
        "open_s": round(open_s, 3), "first_answered": first_ok if a.mode == "used" else None,
        "unaccepted": unaccepted, "held": len(held), "unexpected_data": unexpected,
        "answered_after_hold": answered, "hold_s": a.hold,
        "before": before, "after": after,
        "rss_B_per_conn": per(d["rss_kb"]), "pss_B_per_conn": per(d["pss_kb"]),
        "slab_B_per_conn_pair": per(d["slab_kb"]), "fds_delta": d["fds"],
        "tcp_mem_pages_delta": d["tcp_mem_pages"],
    }))


if __name__ == "__main__":
    main()
