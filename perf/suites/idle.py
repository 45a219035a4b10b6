"""Suite "idle": memory per idle HTTP keep-alive connection, S vs N.

For each round, mode (fresh = connected, no request; used = after one GET /1k) and server,
a freshly started server (pinned to srv_cpu) gets N connections from lib/idle_conns.py
(pinned to lg_cpu). Growth of the server's RSS (process tree, /proc/<pid>/status VmRSS)
divided by the connections opened = bytes per idle connection. Afterwards every connection
is checked: still open, and still answering a GET ("held").
"""
import json
import os
import subprocess
import sys
import time

from perflib import (PERF_DIR, HarnessError, fmt_mmm, http_get, log, md_table, mmm, stop_server,
                     tree_mem_kb)

DESCRIPTION = "idle keep-alive connections: RSS bytes per connection (fresh/used), S vs nginx"
FILE, SIZE, PATH = "1k", 1024, "/1k"
MODES = ("fresh", "used")


def params(ctx):
    q = ctx.quick
    return {
        "n": ctx.env_int("IDLE_N", 2000 if q else 10000),
        "rounds": ctx.env_int("IDLE_ROUNDS", 1 if q else 3),
        "hold_s": ctx.env_float("IDLE_HOLD", 2.0 if q else 5.0),
    }


def _measure(ctx, srv, mode, p):
    http_get(srv.port, PATH)          # touch the request path once so lazy init is not counted
    time.sleep(0.3)
    base_rss, base_pss = tree_mem_kb(srv.pid)
    argv = ["taskset", "-c", str(ctx.lg_cpu), sys.executable,
            os.path.join(PERF_DIR, "lib", "idle_conns.py"), "--port", str(srv.port),
            "--pid", str(srv.pid), "--n", str(p["n"]), "--mode", mode, "--hold", str(p["hold_s"]),
            "--path", PATH]
    try:
        cp = subprocess.run(argv, capture_output=True, text=True,
                            timeout=300 + p["hold_s"] + p["n"] / 100)
    except subprocess.TimeoutExpired:
        raise HarnessError(f"idle_conns.py timed out against {srv.name}")
    if cp.returncode != 0:
        raise HarnessError(f"idle_conns.py failed against {srv.name}: {cp.stderr[-2000:]}")
    r = json.loads(cp.stdout.strip().splitlines()[-1])
    r["baseline_rss_kb"], r["baseline_pss_kb"] = base_rss, base_pss
    return r


def run(ctx, p):
    root, data = ctx.www_file(FILE, SIZE)
    recs = []
    for rnd in range(1, p["rounds"] + 1):
        for mi, mode in enumerate(MODES):
            order = ("S", "N") if (rnd + mi) % 2 else ("N", "S")
            for t in order:
                name = f"idle-{t}"
                if t == "S":
                    srv = ctx.start_sandstorm(name, ctx.port(name), root, PATH, data)
                else:
                    srv = ctx.start_nginx(name, ctx.port(name), root, PATH, data)
                r = _measure(ctx, srv, mode, p)
                if not srv.alive():
                    raise HarnessError(f"{srv.name} died while holding idle connections; "
                                       f"log {srv.log_path}:\n{srv.log_tail()}")
                stop_server(srv)
                r.update(round=rnd, target=t)
                recs.append(r)
                log(f"idle round {rnd}/{p['rounds']} {mode:5} {t}: opened {r['opened']}/{p['n']} "
                    f"held {r['held']} answered {r['answered_after_hold']} "
                    f"rss +{r['rss_B_per_conn'] or 0:.0f} B/conn (baseline {r['baseline_rss_kb']} KiB)")
                time.sleep(0.5)
    return recs


def _held(r):
    return min(r["held"], r["answered_after_hold"])


def summarize(recs, p):
    m = {}
    for mode in MODES:
        by = {t: {r["round"]: r for r in recs if r["mode"] == mode and r["target"] == t} for t in "SN"}
        for t in "SN":
            rs = list(by[t].values())
            for k in ("rss_B_per_conn", "pss_B_per_conn", "slab_B_per_conn_pair"):
                m[f"idle.{mode}.{t}.{k}"] = mmm([r[k] for r in rs])
            m[f"idle.{mode}.{t}.held"] = mmm([_held(r) for r in rs])
        rounds = sorted(set(by["S"]) & set(by["N"]))
        m[f"idle.{mode}.ratio.rss_B_per_conn"] = mmm(
            [by["S"][i]["rss_B_per_conn"] / by["N"][i]["rss_B_per_conn"]
             for i in rounds if by["N"][i]["rss_B_per_conn"]])
    for t in "SN":
        rs = [r for r in recs if r["target"] == t]
        m[f"idle.{t}.baseline_rss_kb"] = mmm([r["baseline_rss_kb"] for r in rs])
        if rs:
            worst = min(rs, key=lambda r: _held(r) / r["n"])
            frac = _held(worst) / worst["n"]
            m[f"idle.{t}.held_frac"] = {"median": frac, "min": frac, "max": frac, "n": len(rs),
                                        "display": f"{_held(worst)}/{worst['n']} (worst of {len(rs)})"}
    return m


def _ohas(rs):
    v = [f"{r['opened']}/{r['held']}/{r['answered_after_hold']}" for r in rs]
    if len(v) > 1 and len(set(v)) == 1:
        return f"{v[0]} (each of {len(v)} rounds)"
    return " ".join(v) or "-"


def report(recs, m, p):
    rows = []
    for mode in MODES:
        for t in "SN":
            g = lambda k: m.get(f"idle.{mode}.{t}.{k}")
            rs = [r for r in recs if r["mode"] == mode and r["target"] == t]
            rows.append([mode, t, fmt_mmm(g("rss_B_per_conn")), fmt_mmm(g("pss_B_per_conn")),
                         fmt_mmm(g("slab_B_per_conn_pair"), flag=False),
                         _ohas(rs),
                         max((r["unaccepted"] for r in rs), default="-")])
    t1 = md_table(["mode", "server", "RSS B/conn", "PSS B/conn", "kernel slab B/conn pair",
                   "opened/held/answered per round", "unaccepted"], rows)
    base = ", ".join(f"{t} {m[f'idle.{t}.baseline_rss_kb']['median'] / 1024:.1f} MiB"
                     for t in "SN" if m.get(f"idle.{t}.baseline_rss_kb"))
    ratios = ", ".join(f"{mode} {fmt_mmm(m.get(f'idle.{mode}.ratio.rss_B_per_conn'), 'ratio')}"
                       for mode in MODES)
    return (f"### idle: {p['n']} idle keep-alive connections, {p['rounds']} round(s), hold {p['hold_s']} s; "
            f"median [min..max]\n\n{t1}\n\nBaseline RSS before connecting (whole process tree; "
            f"N = master + worker): {base}. "
            f"RSS/conn ratio S/N: {ratios}.\n")
