"""Suite "grains": many grains, idle grains, idle WebSockets.

1. running: shell/grain-start-bench --many starts 100 notes grains at once through the daemon's
   GrainHost (one request each), then reports the time to start them all, their processes and
   their total PSS (smaps_rollup of every process in their cgroups), stops them and checks none
   is left.
2. idle: a real `sandstorm run` with 1000 grains created through the API and never opened:
   grains start lazily, so no grain process may exist; the daemon's RSS with them.
3. websockets: `sandstorm dev chat.spk` with N WebSockets opened through the daemon and the
   bridge to the chat app and left idle: the daemon's RSS per connection (the grain's side is
   the bridge's and the app's business, measured separately).
"""
import json
import os
import socket
import subprocess
import time

from perflib import HarnessError, Server, fmt_mmm, http_get, log, md_table, mmm, spawn, stop_server, LOOPBACK

DESCRIPTION = "100 grains at once (memory), 1000 idle grains (0 processes), idle WebSockets"


def params(ctx):
    q = ctx.quick
    return {"running": ctx.env_int("GRAINS_RUNNING", 100), "idle": ctx.env_int("GRAINS_IDLE", 300 if q else 1000),
            "websockets": ctx.env_int("WS_IDLE", 300 if q else 380)}  # the bridge allows 400


def _build_dir(ctx):
    return os.path.dirname(os.path.dirname(os.path.abspath(ctx.binary)))


def _rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _grain_processes(root_pid=None):
    """Processes in any sandstorm grain cgroup (".../sandstorm/<grain id>"); with root_pid, only
    those descending from that server (other servers' grains on the machine do not count)."""
    parents, in_grain = {}, []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                parents[int(d)] = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{d}/cgroup") as f:
                if "/sandstorm/" in f.read():
                    in_grain.append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    if root_pid is None:
        return len(in_grain)

    def descends(pid):
        for _ in range(64):
            pid = parents.get(pid, 0)
            if pid == root_pid:
                return True
            if pid <= 1:
                return False
        return False
    return sum(1 for pid in in_grain if descends(pid))


def _api(port, method, path, body=None, cookie="", csrf=""):
    s = socket.create_connection((LOOPBACK, port), timeout=30)
    data = json.dumps(body or {}).encode() if method != "GET" else b""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    if cookie:
        head += f"Cookie: {cookie}\r\n"
    if csrf:
        head += f"X-CSRF-Token: {csrf}\r\n"
    if method != "GET":
        head += f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n"
    s.sendall(head.encode() + b"\r\n" + data)
    out = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        out += c
    s.close()
    h, _, b = out.partition(b"\r\n\r\n")
    return int(h.split()[1]), h.decode("latin-1"), b


def run(ctx, p):
    if os.geteuid() != 0:
        raise HarnessError("the grains suite needs root (grains run in a sandbox with cgroups)")
    build = _build_dir(ctx)
    bench = os.path.join(build, "shell", "grain-start-bench")
    bridge = os.path.join(build, "rpc", "bridge", "sandstorm-http-bridge")
    apps = os.path.join(build, "apps")
    os.chmod(ctx.work_dir, 0o711)
    recs = []

    # 1. Many grains at once.
    pkg = os.path.join(ctx.work_dir, "grains-notes")
    subprocess.run([ctx.binary, "spk", "unpack", os.path.join(apps, "notes.spk"), pkg], check=True,
                   stdout=subprocess.DEVNULL)
    out = subprocess.run(["taskset", "-c", str(ctx.srv_cpu), bench, "--many", pkg, bridge, str(p["running"])],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise HarnessError(f"grain-start-bench --many failed:\n{out.stderr[-3000:]}")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    log(f"grains running: {r}")
    recs.append({"part": "running", **r})

    # 2. Idle grains through the real daemon.
    port = ctx.port("grains-S")
    data = os.path.join(ctx.work_dir, "grains-S-data")
    lp = os.path.join(ctx.out_dir, "logs", "grains-S.log")
    srv = Server("grains-S", "S", port, spawn([ctx.binary, "run", "--port", str(port), "--data-dir", data,
                                               "--demo-apps", apps, "--grain-ports", "27900-27909"],
                                              lp, cpu=ctx.srv_cpu), lp)
    token = None
    for _ in range(300):
        try:
            with open(lp) as f:
                text = f.read()
            if "#/setup/" in text:
                token = text.split("#/setup/")[1].split()[0]
                break
        except OSError:
            pass
        time.sleep(0.05)
    if token is None:
        raise HarnessError(f"no setup link from the server; log {lp}")
    st, head, _ = _api(port, "POST", "/api/setup", {"token": token, "name": "perf", "password": "perf-password"})
    if st != 200:
        raise HarnessError(f"setup failed: {st}")
    cookie = [l.split(":", 1)[1].strip().split(";")[0] for l in head.split("\r\n")
              if l.lower().startswith("set-cookie:")][0]
    _, _, b = _api(port, "GET", "/api/session", cookie=cookie)
    csrf = json.loads(b)["csrf"]
    _, _, b = _api(port, "GET", "/api/apps", cookie=cookie)
    notes = [a["appId"] for a in json.loads(b) if a["title"] == "Notes"][0]
    rss0 = _rss_kb(srv.pid)
    t0 = time.monotonic()
    for i in range(p["idle"]):
        st, _, _ = _api(port, "POST", "/api/grains", {"appId": notes, "actionIndex": 0, "title": f"g{i}"},
                        cookie=cookie, csrf=csrf)
        if st != 201:
            raise HarnessError(f"creating grain {i}: {st}")
    create_s = time.monotonic() - t0
    time.sleep(0.5)
    recs.append({"part": "idle", "grains": p["idle"], "processes": _grain_processes(srv.pid),
                 "daemon_rss_kb_before": rss0, "daemon_rss_kb": _rss_kb(srv.pid), "create_s": create_s})
    log(f"grains idle: {recs[-1]}")
    stop_server(srv)

    # 3. Idle WebSockets through the daemon to the chat app.
    port = ctx.port("grains-ws")
    data = os.path.join(ctx.work_dir, "grains-ws-data")
    os.makedirs(data, mode=0o711, exist_ok=True)
    lp = os.path.join(ctx.out_dir, "logs", "grains-ws.log")
    ws = Server("grains-ws", "S", port, spawn([ctx.binary, "dev", "--port", str(port), "--data-dir", data,
                                               "--idle-timeout", "86400", os.path.join(apps, "chat.spk")],
                                              lp, cpu=ctx.srv_cpu), lp)
    for _ in range(600):
        try:
            if http_get(port, "/history", timeout=2.0)[0] == 200:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    rss0 = _rss_kb(ws.pid)
    socks = []
    for i in range(p["websockets"]):
        s = socket.create_connection((LOOPBACK, port), timeout=30)
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        resp = b""
        while b"\r\n\r\n" not in resp:
            c = s.recv(4096)
            if not c:
                raise HarnessError(f"WebSocket {i} closed during the handshake")
            resp += c
        if not resp.startswith(b"HTTP/1.1 101"):
            raise HarnessError(f"WebSocket {i}: {resp[:80]!r}")
        socks.append(s)
    time.sleep(1.0)
    rss1 = _rss_kb(ws.pid)
    recs.append({"part": "websockets", "n": len(socks), "daemon_rss_kb_before": rss0, "daemon_rss_kb": rss1,
                 "bytes_per_ws": (rss1 - rss0) * 1024 / max(len(socks), 1)})
    log(f"grains websockets: {recs[-1]}")
    for s in socks:
        s.close()
    stop_server(ws)
    return recs


def _one(x):
    return {"median": x, "min": x, "max": x, "n": 1}


def summarize(recs, p):
    m = {}
    for r in recs:
        if r["part"] == "running":
            m["grains.running.start_all_ms"] = _one(r["start_all_ms"])
            m["grains.running.pss_B_per_grain"] = _one(r["pss_bytes"] / r["grains"])
            m["grains.running.processes_after_stop"] = _one(r["processes_after_stop"])
        elif r["part"] == "idle":
            m["grains.idle.processes"] = _one(r["processes"])
            m["grains.idle.daemon_rss_kb"] = _one(r["daemon_rss_kb"])
            m["grains.idle.daemon_B_per_grain"] = _one((r["daemon_rss_kb"] - r["daemon_rss_kb_before"]) * 1024 / r["grains"])
        else:
            m["grains.ws.daemon_B_per_ws"] = _one(r["bytes_per_ws"])
    return m


def report(recs, m, p):
    rows = []
    for r in recs:
        if r["part"] == "running":
            rows.append([f"{r['grains']} grains started at once", f"{r['start_all_ms']:.0f} ms to answer all",
                         f"{r['processes']} processes, {r['pss_bytes'] / r['grains'] / 1024:.0f} KiB PSS per grain",
                         f"{r['processes_after_stop']} processes after stop"])
        elif r["part"] == "idle":
            rows.append([f"{r['grains']} grains created, never opened", f"{r['create_s']:.1f} s to create",
                         f"{r['processes']} grain processes",
                         f"daemon RSS {r['daemon_rss_kb_before'] / 1024:.1f} -> {r['daemon_rss_kb'] / 1024:.1f} MiB"])
        else:
            rows.append([f"{r['n']} idle WebSockets through the daemon", "",
                         f"daemon {r['bytes_per_ws']:.0f} B per WebSocket",
                         f"daemon RSS {r['daemon_rss_kb_before'] / 1024:.1f} -> {r['daemon_rss_kb'] / 1024:.1f} MiB"])
    return "### grains\n\n" + md_table(["what", "time", "result", "memory"], rows) + "\n"
