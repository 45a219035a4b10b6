"""Suite "static": a 1 KiB file over keep-alive HTTP/1.1, S (our server) vs N (nginx).

Per repetition and connection count, S and N run back to back (order alternates between
repetitions). Server on srv_cpu, wrk -t1 on lg_cpu. Per cell: req/s, latency percentiles
(stats.lua), server CPU µs per request (utime+stime of the server's process tree from
/proc/<pid>/stat), socket errors, wrk's own CPU share (> 0.9 means wrk was the bottleneck).
"""
import os
import time

from perflib import (cpu_delta_us, cpu_stat, fmt_mmm, fmt_num, load1, log, md_table, mmm,
                     run_wrk, stop_server, tree_cpu_ticks, HarnessError)

DESCRIPTION = "1 KiB static file, keep-alive, S vs nginx at 1/64/1024 connections"
FILE, SIZE, PATH = "1k", 1024, "/1k"
LAT = ("p50_us", "p90_us", "p99_us")


def params(ctx):
    q = ctx.quick
    return {
        "reps": ctx.env_int("REPS", 2 if q else 5),
        "dur_s": ctx.env_int("DUR", 3 if q else 10),
        "conns": [int(c) for c in os.environ.get("STATIC_CONNS", "1 64 1024").split()],
        "warmup_s": 1 if q else 2,
        "file_bytes": SIZE,
    }


def _cell(ctx, srv, c, p, rep):
    cpu0, st0, l0 = tree_cpu_ticks(srv.pid), cpu_stat(), load1()
    r = run_wrk(srv.url(PATH), c, p["dur_s"], ctx.lg_cpu, ctx.lua)
    cpu1, st1 = tree_cpu_ticks(srv.pid), cpu_stat()
    if not srv.alive():
        raise HarnessError(f"{srv.name} died during wrk -c{c}; log {srv.log_path}:\n{srv.log_tail()}")
    reqs = max(r["reqs"], 1)
    total, steal = st1[0] - st0[0], st1[1] - st0[1]
    rec = {
        "rep": rep, "c": c, "target": srv.kind,
        "cpu_us_per_req": cpu_delta_us(cpu0, cpu1) / reqs,
        "bytes_per_req": r["bytes_per_s"] / r["rps"] if r["rps"] else None,
        "load1_before": l0, "steal_pct": 100.0 * steal / total if total else 0.0,
    }
    rec.update(r)
    return rec


def run(ctx, p):
    root, data = ctx.www_file(FILE, SIZE)
    s = ctx.start_sandstorm("static-S", ctx.port("static-S"), root, PATH, data)
    n = ctx.start_nginx("static-N", ctx.port("static-N"), root, PATH, data)
    ctx.suite_meta.update(S_start_s=s.start_s, S_banner_seen=s.banner_seen)
    for srv in (s, n):   # warm-up (page cache, allocator, first-request paths)
        run_wrk(srv.url(PATH), 64, p["warmup_s"], ctx.lg_cpu, ctx.lua)
    recs = []
    for rep in range(1, p["reps"] + 1):
        for c in p["conns"]:
            order = (s, n) if rep % 2 else (n, s)
            for srv in order:
                rec = _cell(ctx, srv, c, p, rep)
                recs.append(rec)
                log(f"static rep {rep}/{p['reps']} c={c:<4} {srv.kind}: {rec['rps']:9.0f} req/s "
                    f"p50 {rec['p50_us']:6.0f}us p99 {rec['p99_us']:7.0f}us "
                    f"cpu {rec['cpu_us_per_req']:6.2f}us/req err {rec['errors']:.0f} "
                    f"wrk-cpu {rec['wrk_cpu_frac']:.2f} load {rec['load1_before']:.2f}")
            time.sleep(0.2)
    graceful = stop_server(s)
    stop_server(n)
    ctx.suite_meta["S_exit_on_sigterm"] = graceful
    return recs


def summarize(recs, p):
    m = {}
    for c in p["conns"]:
        by = {t: {r["rep"]: r for r in recs if r["c"] == c and r["target"] == t} for t in "SN"}
        for t in "SN":
            rs = list(by[t].values())
            for k in ("rps",) + LAT + ("cpu_us_per_req", "bytes_per_req", "wrk_cpu_frac"):
                m[f"static.c{c}.{t}.{k}"] = mmm([r[k] for r in rs])
            m[f"static.c{c}.{t}.errors"] = _total([r["errors"] for r in rs])
        reps = sorted(set(by["S"]) & set(by["N"]))
        for k in ("rps",) + LAT + ("cpu_us_per_req",):
            m[f"static.c{c}.ratio.{k}"] = mmm([by["S"][i][k] / by["N"][i][k] for i in reps if by["N"][i][k]])
    return m


def _total(xs):
    return {"median": sum(xs), "min": sum(xs), "max": sum(xs), "n": len(xs)} if xs else None


def report(recs, m, p):
    rows = []
    for c in p["conns"]:
        for t in "SN":
            g = lambda k: m.get(f"static.c{c}.{t}.{k}")
            e = g("errors")
            rows.append([c, t, fmt_mmm(g("rps")), fmt_mmm(g("p50_us")), fmt_mmm(g("p90_us")),
                         fmt_mmm(g("p99_us")), fmt_mmm(g("cpu_us_per_req")),
                         fmt_num(g("bytes_per_req")["median"]) if g("bytes_per_req") else "-",
                         int(e["median"]) if e else "-", fmt_mmm(g("wrk_cpu_frac"), flag=False)])
    t1 = md_table(["conns", "server", "req/s", "p50 µs", "p90 µs", "p99 µs", "CPU µs/req",
                   "bytes/resp", "errors", "wrk CPU"], rows)
    rows = []
    for c in p["conns"]:
        g = lambda k: fmt_mmm(m.get(f"static.c{c}.ratio.{k}"), "ratio")
        rows.append([c, g("rps"), g("cpu_us_per_req"), g("p50_us"), g("p90_us"), g("p99_us")])
    t2 = md_table(["conns", "req/s S/N", "CPU µs/req S/N", "p50 S/N", "p90 S/N", "p99 S/N"], rows)
    cond = (f"Conditions: load1 {min(r['load1_before'] for r in recs):.2f}..{max(r['load1_before'] for r in recs):.2f}, "
            f"steal max {max(r['steal_pct'] for r in recs):.1f} %, wrk CPU max {max(r['wrk_cpu_frac'] for r in recs):.2f}.")
    busy = [f"c={r['c']} {r['target']} rep {r['rep']}" for r in recs if r["wrk_cpu_frac"] > 0.9]
    if busy:
        cond += (f" **wrk used > 90 % of its CPU in {len(busy)} cell(s) ({', '.join(busy[:6])}"
                 f"{', ...' if len(busy) > 6 else ''}): the load generator may be the bottleneck there, "
                 "so req/s ratios are capped near 1.0; CPU µs/req is still valid.**")
    return (f"### static: GET /1k ({p['file_bytes']} B), keep-alive; {p['reps']} reps x {p['dur_s']} s; "
            f"median [min..max]; `!` = spread > 15 % of the median\n\n{t1}\n\n"
            f"Paired ratios S/N (same repetition, back to back), median [min..max]:\n\n{t2}\n\n{cond}\n")
