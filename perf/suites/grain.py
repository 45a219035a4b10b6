"""Suite "grain": the notes demo app behind three front ends, same run, same app binary.

  S  our daemon (`sandstorm dev notes.spk`): HTTP -> Cap'n Proto on fd 3 -> sandstorm-http-bridge
     in a real sandbox -> the app on the grain's loopback
  N  nginx reverse proxy (keep-alive upstream) -> the app run directly, no sandbox
  D  the app directly

The measured request is GET /1k (notes' benchmark route: 1024 fixed bytes, no storage access,
so the app's own cost is small and the front ends' costs show). GRAIN_PATH=/ measures the notes
page instead, seeded with three notes so that it is about 1 KiB too.

Per cell: req/s, latency percentiles, CPU per request of the front end only (S: the daemon
process; N: nginx's processes), of the bridge (S only) and of the app (the notes process), from
/proc/<pid>/stat deltas. Added latency is p50(X) - p50(D). All servers are pinned to srv_cpu (the
grain inherits the daemon's CPU), wrk to lg_cpu.
"""
import os
import socket
import subprocess
import time

from perflib import (HarnessError, Server, _stat_fields, cpu_delta_us, fmt_mmm, http_get, log,
                     md_table, mmm, run_wrk, spawn, stop_server, tree_cpu_ticks, HZ, LOOPBACK)

DESCRIPTION = "notes app GET /1k: our daemon->capnp->bridge->app vs nginx->app vs direct, 1/64/1024 conns"
PATH = os.environ.get("GRAIN_PATH") or "/1k"
LAT = ("p50_us", "p90_us", "p99_us")
NOTE = "A note of about two hundred bytes, so that three of them make the page about one KiB. " * 2


def params(ctx):
    q = ctx.quick
    return {
        "reps": ctx.env_int("REPS", 2 if q else 5),
        "dur_s": ctx.env_int("DUR", 3 if q else 10),
        "conns": [int(c) for c in os.environ.get("GRAIN_CONNS", "1 64 1024").split()],
        "warmup_s": 1 if q else 2,
        "path": PATH,
    }


def _build_dir(ctx):
    return os.path.dirname(os.path.dirname(os.path.abspath(ctx.binary)))


def _wait_http(srv, timeout=30.0):
    t0 = time.monotonic()
    last = ""
    while time.monotonic() - t0 < timeout:
        if not srv.alive():
            raise HarnessError(f"{srv.name} exited early; log {srv.log_path}:\n{srv.log_tail()}")
        try:
            st, _, body = http_get(srv.port, PATH, timeout=5.0)
            if st == 200:
                srv.start_s = time.monotonic() - t0
                return body
            last = f"status {st}"
        except (OSError, ValueError) as e:
            last = str(e)
        time.sleep(0.05)
    raise HarnessError(f"{srv.name} did not answer GET / within {timeout:.0f}s ({last}); "
                       f"log {srv.log_path}:\n{srv.log_tail()}")


def _post(port, path, body):
    with socket.create_connection((LOOPBACK, port), timeout=10) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                  f"Content-Type: application/x-www-form-urlencoded\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        while s.recv(65536):
            pass


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return ""


def _split_us(before, after, root):
    """CPU µs between two tree_cpu_ticks snapshots of `root`'s tree: (root alone, processes
    named notes*, everything else below root)."""
    own = (after.get(root, 0) - before.get(root, 0)) * 1e6 / HZ
    app = other = 0.0
    for pid, t in after.items():
        if pid == root:
            continue
        d = (t - before.get(pid, 0)) * 1e6 / HZ
        if _comm(pid).startswith("notes"):
            app += d
        else:
            other += d
    return own, app, other


def start_all(ctx):
    build = _build_dir(ctx)
    spk = os.path.join(build, "apps", "notes.spk")
    app = os.path.join(build, "apps", "notes-root", "bin", "notes")
    for f in (spk, app):
        if not os.path.exists(f):
            raise HarnessError(f"{f} is missing: build the demo apps (ninja -C {build} demo-apps)")
    if os.geteuid() != 0:
        raise HarnessError("the grain suite needs root (grains run in a sandbox with cgroups)")

    # D: the app itself (it stores notes under $NOTES_DIR, default /var/notes).
    pd = ctx.port("grain-D")
    ctx._check_port(pd, "grain-D")
    notes_dir = os.path.join(ctx.work_dir, "grain-D-notes")
    os.environ["NOTES_DIR"] = notes_dir
    lp = os.path.join(ctx.out_dir, "logs", "grain-D.log")
    d = Server("grain-D", "D", pd, spawn([app, str(pd)], lp, cpu=ctx.srv_cpu), lp)
    del os.environ["NOTES_DIR"]
    _wait_http(d)

    # S: our daemon with the app as a grain.
    ps = ctx.port("grain-S")
    ctx._check_port(ps, "grain-S")
    data = os.path.join(ctx.work_dir, "grain-S-data")
    os.makedirs(data, mode=0o711, exist_ok=True)
    os.chmod(ctx.work_dir, 0o711)  # the grain's uid must reach its storage below here
    lp = os.path.join(ctx.out_dir, "logs", "grain-S.log")
    argv = [ctx.binary, "dev", "--port", str(ps), "--data-dir", data, "--idle-timeout", "86400", spk]
    s = Server("grain-S", "S", ps, spawn(argv, lp, cpu=ctx.srv_cpu), lp)
    _wait_http(s, timeout=60)

    # N: nginx in front of the same app binary (D's process).
    n = ctx.start_nginx("grain-N", ctx.port("grain-N"), ctx.work_dir, None, None,
                        template="nginx-proxy.conf.in", extra={"UPSTREAM_PORT": pd})
    _wait_http(n)

    if PATH == "/":
        # Three notes on each app instance: the page is then about 1 KiB on every path.
        for port in (ps, pd):
            for i in range(3):
                _post(port, "/add", b"text=" + (f"{i} " + NOTE[:200]).replace(" ", "+").encode())
    log(f"grain: S pid {s.pid} (dev server), N pid {n.pid}, D pid {d.pid}, path {PATH}")
    sizes = {srv.kind: len(http_get(srv.port, PATH, timeout=5.0)[2]) for srv in (s, n, d)}
    ctx.suite_meta["page_bytes"] = sizes
    if len(set(sizes.values())) != 1:
        raise HarnessError(f"the three paths serve different pages: {sizes}")
    return s, n, d


def _ensure_up(srv, timeout=60.0):
    """S only: the grain may have been stopped (crash, pids.max) by the cell before; request until
    it answers again so that its restart (and any crash backoff) is not timed in this cell."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if http_get(srv.port, PATH, timeout=10.0)[0] == 200:
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    raise HarnessError(f"{srv.name}: the grain does not answer again after {timeout:.0f}s; log "
                       f"{srv.log_path}:\n{srv.log_tail()}")


def _crashes(srv):
    """The dev server's "grain: stopped by itself" log lines so far."""
    try:
        with open(srv.log_path, errors="replace") as f:
            return [l.strip() for l in f if "grain: stopped by itself" in l]
    except OSError:
        return []


def _cell(ctx, srv, c, p, rep, app_pid):
    crashes0 = None
    if srv.kind == "S":
        _ensure_up(srv)
        crashes0 = len(_crashes(srv))
    front0 = tree_cpu_ticks(srv.pid)
    app0 = tree_cpu_ticks(app_pid) if app_pid else {}
    r = run_wrk(srv.url(PATH), c, p["dur_s"], ctx.lg_cpu, ctx.lua)
    front1 = tree_cpu_ticks(srv.pid)
    app1 = tree_cpu_ticks(app_pid) if app_pid else {}
    if not srv.alive():
        raise HarnessError(f"{srv.name} died during wrk -c{c}; log {srv.log_path}:\n{srv.log_tail()}")
    reqs = max(r["reqs"], 1)
    bridge_us = None
    if srv.kind == "S":
        # The daemon alone is the front end; its descendants are the grain: the bridge (pid 1 of
        # the sandbox) and the app (notes).
        front_us, app_us, bridge_us = _split_us(front0, front1, srv.pid)
        crashed = _crashes(srv)[crashes0:]
        if crashed:
            ctx.note(f"grain c={c} rep {rep}: the grain stopped by itself {len(crashed)} time(s) during "
                     f"the cell; last: {crashed[-1][:300]}")
        if set(front0) != set(front1):
            ctx.note(f"grain c={c} rep {rep}: the grain's processes changed during the cell "
                     f"({sorted(set(front0) ^ set(front1))}): was it restarted?")
    elif srv.kind == "N":
        front_us = cpu_delta_us(front0, front1)
        app_us = cpu_delta_us(app0, app1)
    else:
        front_us = 0.0
        app_us = cpu_delta_us(front0, front1)
    side_us = app_us + (bridge_us or 0.0)
    rec = {"rep": rep, "c": c, "target": srv.kind, "front_cpu_us_per_req": front_us / reqs,
           "bridge_cpu_us_per_req": None if bridge_us is None else bridge_us / reqs,
           "app_cpu_us_per_req": app_us / reqs, "app_side_cpu_us_per_req": side_us / reqs,
           "path_cpu_us_per_req": (front_us + side_us) / reqs,
           "grain_crashes": None if crashes0 is None else len(_crashes(srv)) - crashes0}
    rec.update(r)
    return rec


def run(ctx, p):
    s, n, d = start_all(ctx)
    for srv in (s, n, d):
        run_wrk(srv.url(PATH), 16, p["warmup_s"], ctx.lg_cpu, ctx.lua)
    recs = []
    for rep in range(1, p["reps"] + 1):
        for c in p["conns"]:
            order = [s, n, d] if rep % 2 else [d, n, s]
            for srv in order:
                rec = _cell(ctx, srv, c, p, rep, d.pid if srv.kind == "N" else None)
                recs.append(rec)
                bridge = rec["bridge_cpu_us_per_req"]
                log(f"grain rep {rep}/{p['reps']} c={c:<4} {srv.kind}: {rec['rps']:9.0f} req/s "
                    f"p50 {rec['p50_us']:6.0f}us front {rec['front_cpu_us_per_req']:6.2f}us/req "
                    + (f"bridge {bridge:6.2f}us/req " if bridge is not None else "")
                    + f"app {rec['app_cpu_us_per_req']:6.2f}us/req err {rec['errors']:.0f} "
                    f"wrk {rec['wrk_cpu_frac']:.2f}")
                if rec["errors"]:
                    ctx.note(f"grain c={c} rep {rep} {srv.kind}: {rec['errors']:.0f} errors")
            time.sleep(0.2)
    stop_server(s)
    stop_server(n)
    stop_server(d)
    return recs


def summarize(recs, p):
    m = {}
    for c in p["conns"]:
        by = {t: {r["rep"]: r for r in recs if r["c"] == c and r["target"] == t} for t in "SND"}
        for t in "SND":
            rs = list(by[t].values())
            for k in ("rps",) + LAT + ("front_cpu_us_per_req", "bridge_cpu_us_per_req",
                                       "app_cpu_us_per_req", "app_side_cpu_us_per_req",
                                       "path_cpu_us_per_req", "errors", "wrk_cpu_frac", "grain_crashes"):
                v = mmm([r.get(k) for r in rs])
                if v is not None:
                    m[f"grain.c{c}.{t}.{k}"] = v
        reps = sorted(set(by["S"]) & set(by["N"]) & set(by["D"]))
        m[f"grain.c{c}.ratio.rps"] = mmm([by["S"][i]["rps"] / by["N"][i]["rps"] for i in reps if by["N"][i]["rps"]])
        m[f"grain.c{c}.ratio.rps_vs_direct"] = mmm([by["S"][i]["rps"] / by["D"][i]["rps"] for i in reps if by["D"][i]["rps"]])
        m[f"grain.c{c}.ratio.front_cpu"] = mmm([by["S"][i]["front_cpu_us_per_req"] / by["N"][i]["front_cpu_us_per_req"]
                                                for i in reps if by["N"][i]["front_cpu_us_per_req"]])
        m[f"grain.c{c}.ratio.path_cpu"] = mmm([by["S"][i]["path_cpu_us_per_req"] / by["N"][i]["path_cpu_us_per_req"]
                                               for i in reps if by["N"][i]["path_cpu_us_per_req"]])
        # Added latency: what the front end adds on top of the app itself.
        m[f"grain.c{c}.S.added_p50_us"] = mmm([by["S"][i]["p50_us"] - by["D"][i]["p50_us"] for i in reps])
        m[f"grain.c{c}.N.added_p50_us"] = mmm([by["N"][i]["p50_us"] - by["D"][i]["p50_us"] for i in reps])
        m[f"grain.c{c}.ratio.added_p50"] = mmm([(by["S"][i]["p50_us"] - by["D"][i]["p50_us"]) /
                                                 max(by["N"][i]["p50_us"] - by["D"][i]["p50_us"], 1.0) for i in reps])
    return m


def report(recs, m, p):
    rows = []
    for c in p["conns"]:
        for t in "SND":
            g = lambda k: fmt_mmm(m.get(f"grain.c{c}.{t}.{k}"))
            rows.append([c, {"S": "ours (grain)", "N": "nginx -> app", "D": "app direct"}[t], g("rps"),
                         g("p50_us"), g("p99_us"), g("front_cpu_us_per_req"),
                         g("bridge_cpu_us_per_req") if t == "S" else "-", g("app_cpu_us_per_req"),
                         g("path_cpu_us_per_req"), g("errors"), g("wrk_cpu_frac"),
                         g("grain_crashes") if t == "S" else "-"])
    t1 = md_table(["conns", "path", "req/s", "p50 µs", "p99 µs", "front-end CPU µs/req",
                   "bridge CPU µs/req", "app CPU µs/req", "whole path CPU µs/req", "errors",
                   "wrk CPU", "grain crashes"], rows)
    rows = []
    for c in p["conns"]:
        g = lambda k: fmt_mmm(m.get(f"grain.c{c}.{k}"), "ratio")
        rows.append([c, g("ratio.rps"), g("ratio.rps_vs_direct"), g("ratio.front_cpu"), g("ratio.path_cpu"),
                     fmt_mmm(m.get(f"grain.c{c}.S.added_p50_us")), fmt_mmm(m.get(f"grain.c{c}.N.added_p50_us")),
                     g("ratio.added_p50")])
    t2 = md_table(["conns", "req/s S/N", "req/s S/D", "front CPU S/N", "whole path CPU S/N",
                   "added p50 S µs", "added p50 N µs", "added p50 S/N"], rows)
    return (f"### grain: GET {p.get('path', PATH)} of the notes app (~1 KiB), keep-alive; {p['reps']} reps x {p['dur_s']} s\n\n"
            f"S = our daemon -> Cap'n Proto -> bridge (sandboxed) -> app; N = nginx -> app; D = app.\n"
            f"Front end: S the daemon process alone, N nginx master + worker. Bridge: S's "
            f"sandstorm-http-bridge. App: the notes process (same binary on every path). Whole path = "
            f"front + bridge + app. CPU from /proc/<pid>/stat (10 ms ticks) over the cell.\n\n{t1}\n\n{t2}\n")
