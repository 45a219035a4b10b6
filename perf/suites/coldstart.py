"""Suite "coldstart": a stopped grain to the first byte of its first response, vs bwrap.

S: `sandstorm dev --idle-timeout 1 notes.spk` (the daemon's HTTP front end and GrainHost). Before
   every measured request the harness waits until the grain has been stopped for idleness (no
   process left below the daemon, and the dev server's log has as many "grain: stopped" lines as
   "grain: started" ones), then times connect + `GET /1k` to the first response byte: sandbox
   spawn (namespaces, mounts, seccomp, cgroup), our bridge as pid 1, the notes app, the bridge's
   port probe, the Cap'n Proto session, the request. Afterwards it checks that exactly one grain
   start was logged for that request and that its bridge pid is new: a request that did not cold
   start is not counted (and noted).
H: shell/grain-start-bench, the same GrainHost driven in-process without HTTP (info: the part
   of S that is the grain start itself).
B: bwrap (Debian's bubblewrap) runs the same notes binary from the same unpacked package with a
   comparable sandbox (new user/pid/ipc/uts/cgroup namespaces, read-only package root, tmpfs
   /tmp, minimal /dev, die-with-parent); the harness times spawn -> first byte of GET /1k.
   bwrap's network namespace is shared, so the app is reachable directly (ours has its own
   network namespace; the bridge reaches the app inside it).
Servers and sandboxes are pinned to srv_cpu, the client to lg_cpu.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import time

from perflib import (HarnessError, Server, fmt_mmm, http_get, log, md_table, mmm, process_tree,
                     spawn, stop_server, LOOPBACK)

DESCRIPTION = "cold grain start via the dev server (stopped -> first response byte) vs bwrap spawning the same app"
PATH = "/1k"
STARTED = re.compile(r"grain: started .*pid=(\d+)")
STOPPED = re.compile(r"grain: stopped|grain: stopped by itself")


def params(ctx):
    return {"starts": ctx.env_int("STARTS", 20 if ctx.quick else 100),
            "settle_ms": ctx.env_int("COLD_SETTLE_MS", 50)}


def _build_dir(ctx):
    return os.path.dirname(os.path.dirname(os.path.abspath(ctx.binary)))


def _pct(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * q))] if s else None


def _get_first_byte(port, timeout=30.0):
    """connect + GET /1k; returns (seconds to the first response byte, status, body length)."""
    t0 = time.perf_counter()
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as s:
        s.sendall(f"GET {PATH} HTTP/1.1\r\nHost: {LOOPBACK}:{port}\r\nConnection: close\r\n\r\n".encode())
        first = s.recv(65536)
        t1 = time.perf_counter()
        data = first
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    if not first:
        raise HarnessError("coldstart: connection closed without a response")
    head, _, body = data.partition(b"\r\n\r\n")
    return t1 - t0, int(head.split(b" ", 2)[1]), len(body)


class DevLog:
    """Counts grain starts and stops in the dev server's log as it grows."""

    def __init__(self, path):
        self.path, self.pos, self.starts, self.stops, self.pids = path, 0, 0, 0, []

    def poll(self):
        with open(self.path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
        end = data.rfind(b"\n") + 1          # whole lines only
        self.pos += end
        for line in data[:end].decode(errors="replace").splitlines():
            m = STARTED.search(line)
            if m:
                self.starts += 1
                self.pids.append(int(m.group(1)))
            elif STOPPED.search(line):
                self.stops += 1
        return self


def _wait_stopped(srv, devlog, timeout=15.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not srv.alive():
            raise HarnessError(f"{srv.name} died; log {srv.log_path}:\n{srv.log_tail()}")
        devlog.poll()
        if len(process_tree(srv.pid)) == 1 and devlog.stops >= devlog.starts:
            return
        time.sleep(0.01)
    raise HarnessError(f"coldstart: the grain was not stopped {timeout:.0f} s after its request "
                       f"(idle timeout 1 s); processes {process_tree(srv.pid)}, log "
                       f"starts {devlog.starts} stops {devlog.stops}")


def _run_dev(ctx, p, spk):
    port = ctx.port("coldstart-S")
    ctx._check_port(port, "coldstart-S")
    data = os.path.join(ctx.work_dir, "coldstart-S-data")
    os.makedirs(data, mode=0o711, exist_ok=True)
    lp = os.path.join(ctx.out_dir, "logs", "coldstart-S.log")
    argv = [ctx.binary, "dev", "--port", str(port), "--data-dir", data, "--idle-timeout", "1", spk]
    srv = Server("coldstart-S", "S", port, spawn(argv, lp, cpu=ctx.srv_cpu), lp)
    devlog = DevLog(lp)
    t0 = time.monotonic()
    while True:   # ready: the first request (itself a start, not measured)
        if not srv.alive():
            raise HarnessError(f"{srv.name} exited early; log {lp}:\n{srv.log_tail()}")
        try:
            st, _, body = http_get(port, PATH, timeout=30.0)
            if st == 200 and len(body) == 1024:
                break
        except (OSError, ValueError):
            pass
        if time.monotonic() - t0 > 60:
            raise HarnessError(f"{srv.name} did not answer GET {PATH} within 60 s; log {lp}:\n{srv.log_tail()}")
        time.sleep(0.05)
    recs, seen, skipped = [], set(), 0
    for i in range(p["starts"]):
        _wait_stopped(srv, devlog)
        time.sleep(p["settle_ms"] / 1000)
        before_starts = devlog.starts
        running_before = len(process_tree(srv.pid)) - 1
        secs, status, length = _get_first_byte(port)
        if status != 200 or length != 1024:
            raise HarnessError(f"coldstart: GET {PATH} through the dev server: status {status}, "
                               f"{length} body bytes")
        # The start is logged before the first byte can arrive; allow the log write to land.
        deadline = time.monotonic() + 2.0
        while devlog.poll().starts == before_starts and time.monotonic() < deadline:
            time.sleep(0.002)
        new_pid = devlog.pids[-1] if devlog.pids else None
        cold = (running_before == 0 and devlog.starts == before_starts + 1 and new_pid not in seen)
        if new_pid is not None:
            seen.add(new_pid)
        if not cold:
            skipped += 1
            ctx.note(f"coldstart: request {i + 1} was not a verified cold start (processes before "
                     f"{running_before}, starts logged {devlog.starts - before_starts}); not counted")
            continue
        recs.append({"target": "S", "ms": secs * 1000, "grain_pid": new_pid})
        if (i + 1) % 10 == 0 or i + 1 == p["starts"]:
            log(f"coldstart S: {i + 1}/{p['starts']} starts, last {secs * 1000:.2f} ms")
    _wait_stopped(srv, devlog)
    stop_server(srv)
    ctx.suite_meta["S_verification"] = {"requests": p["starts"], "verified_cold": len(recs),
                                        "not_cold": skipped, "starts_logged": devlog.starts,
                                        "stops_logged": devlog.stops,
                                        "distinct_bridge_pids": len(seen)}
    log(f"coldstart S: {len(recs)}/{p['starts']} requests verified cold "
        f"(grain starts logged {devlog.starts}, stops {devlog.stops}, distinct pids {len(seen)})")
    if len(recs) < max(1, p["starts"] * 9 // 10):
        raise HarnessError(f"coldstart: only {len(recs)} of {p['starts']} requests were cold starts")
    return recs


def _run_host_bench(ctx, p, build, pkg):
    bench = os.path.join(build, "shell", "grain-start-bench")
    bridge = os.path.join(build, "rpc", "bridge", "sandstorm-http-bridge")
    if not (os.path.exists(bench) and os.path.exists(bridge)):
        ctx.note(f"{bench} missing: no H (in-process GrainHost) numbers")
        return []
    out = subprocess.run(["taskset", "-c", str(ctx.srv_cpu), bench, pkg, bridge, str(p["starts"]), PATH.lstrip("/")],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        ctx.note(f"grain-start-bench failed: {out.stderr[-500:]}")
        return []
    ms = json.loads(out.stdout.strip().splitlines()[-1])["ms"]
    log(f"coldstart H: median {sorted(ms)[len(ms) // 2]:.2f} ms over {len(ms)} starts")
    return [{"target": "H", "ms": x} for x in ms]


def _run_bwrap(ctx, p, pkg):
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        ctx.note("bwrap is missing (apt-get install bubblewrap): no B comparison")
        return []
    port = ctx.port("coldstart-B")
    ctx._check_port(port, "coldstart-B")
    var = os.path.join(ctx.work_dir, "coldstart-B-var")
    os.makedirs(var, exist_ok=True)
    req = f"GET {PATH} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    out = []
    for i in range(p["starts"]):
        argv = ["taskset", "-c", str(ctx.srv_cpu), bwrap, "--unshare-user", "--unshare-pid",
                "--unshare-ipc", "--unshare-uts", "--unshare-cgroup", "--die-with-parent",
                "--ro-bind", pkg, "/", "--bind", var, "/var", "--tmpfs", "/tmp", "--dev", "/dev",
                "--setenv", "NOTES_DIR", "/var/notes", "/bin/notes", str(port)]
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        first = None
        while time.perf_counter() - t0 < 10:
            try:
                with socket.create_connection((LOOPBACK, port), timeout=5) as s:
                    s.sendall(req)
                    first = s.recv(64)
                    t1 = time.perf_counter()
                    break
            except OSError:
                time.sleep(0.0002)
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.wait()
        if not first or not first.startswith(b"HTTP/1.1 200"):
            raise HarnessError(f"bwrap-run notes did not answer GET {PATH} within 10 s ({first!r})")
        out.append({"target": "B", "ms": (t1 - t0) * 1000})
        time.sleep(p["settle_ms"] / 1000)
    log(f"coldstart B: median {sorted(r['ms'] for r in out)[len(out) // 2]:.2f} ms over {len(out)} starts")
    return out


def run(ctx, p):
    if os.geteuid() != 0:
        raise HarnessError("the coldstart suite needs root (grains run in a sandbox with cgroups)")
    build = _build_dir(ctx)
    spk = os.path.join(build, "apps", "notes.spk")
    if not os.path.exists(spk):
        raise HarnessError(f"{spk} is missing (ninja -C {build} demo-apps)")
    os.chmod(ctx.work_dir, 0o711)
    pkg = os.path.join(ctx.work_dir, "coldstart-notes")
    subprocess.run([ctx.binary, "spk", "unpack", spk, pkg], check=True, stdout=subprocess.DEVNULL)
    old_affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {ctx.lg_cpu})
    try:
        recs = _run_dev(ctx, p, spk)
        recs += _run_bwrap(ctx, p, pkg)
        recs += _run_host_bench(ctx, p, build, pkg)
    finally:
        os.sched_setaffinity(0, old_affinity)
    return recs


def summarize(recs, p):
    m = {}
    for t in "SBH":
        xs = [r["ms"] for r in recs if r["target"] == t]
        if xs:
            m[f"coldstart.{t}.ms"] = mmm(xs)
            p90 = _pct(xs, 0.9)
            m[f"coldstart.{t}.p90_ms"] = {"median": p90, "min": p90, "max": p90, "n": len(xs)}
    s = [r for r in recs if r["target"] == "S"]
    if s:
        frac = len(s) / p["starts"]
        m["coldstart.S.verified_frac"] = {"median": frac, "min": frac, "max": frac, "n": p["starts"]}
    if "coldstart.S.ms" in m and "coldstart.B.ms" in m:
        r = m["coldstart.S.ms"]["median"] / m["coldstart.B.ms"]["median"]
        m["coldstart.ratio.median"] = {"median": r, "min": r, "max": r, "n": 1}
        r = m["coldstart.S.p90_ms"]["median"] / m["coldstart.B.p90_ms"]["median"]
        m["coldstart.ratio.p90"] = {"median": r, "min": r, "max": r, "n": 1}
    return m


def report(recs, m, p):
    rows = []
    names = (("S", "ours: dev server, stopped grain -> first byte of GET /1k"),
             ("H", "ours in-process (grain-start-bench: GrainHost start + one GET over capnp)"),
             ("B", "bwrap spawning the same notes binary -> first byte"))
    for t, name in names:
        if f"coldstart.{t}.ms" in m:
            rows.append([name, m[f"coldstart.{t}.ms"]["n"], fmt_mmm(m[f"coldstart.{t}.ms"], flag=False),
                         f"{m[f'coldstart.{t}.p90_ms']['median']:.2f}"])
    t = md_table(["path", "starts", "ms median [min..max]", "p90 ms"], rows)
    extra = ""
    if "coldstart.ratio.median" in m:
        extra += (f"\n\nS/B: median {m['coldstart.ratio.median']['median']:.2f}, "
                  f"p90 {m['coldstart.ratio.p90']['median']:.2f}")
    v = m.get("coldstart.S.verified_frac")
    if v:
        extra += (f"\n\nS: {v['median'] * p['starts']:.0f} of {p['starts']} requests verified cold (no grain "
                  f"process before the request, exactly one new grain start with a new pid logged for it); "
                  f"the grain was stopped by the 1 s idle timeout between requests, then "
                  f"{p['settle_ms']} ms settle.")
    return f"### coldstart: {p['starts']} starts each\n\n{t}{extra}\n"
