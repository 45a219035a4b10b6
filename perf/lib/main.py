#!/usr/bin/env python3
"""Orchestrator behind perf/run: runs the selected suites, evaluates perf/goals.tsv, prints the
report and writes results.json / report.md into the out dir.

Exit codes: 0 = report produced (goals may FAIL), 1 = the harness itself failed, 2 = usage.
A suite is a module perf/suites/<name>.py with:
  DESCRIPTION: str
  params(ctx) -> dict                    (settings for --quick / full, env overrides)
  run(ctx, params) -> list[dict]         (raw records, one per measured cell and repetition)
  summarize(records, params) -> {metric: {"median","min","max","n"[,"display"]}}
  report(records, metrics, params) -> str (markdown)
"""
import argparse
import hashlib
import importlib.util
import json
import operator
import os
import platform
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import perflib  # noqa: E402
from perflib import PERF_DIR, HarnessError, fmt_num, log, md_table  # noqa: E402
from context import Context  # noqa: E402

SUITE_DIR = os.path.join(PERF_DIR, "suites")
GOALS_FILE = os.path.join(PERF_DIR, "goals.tsv")
CMP = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}


def available_suites():
    """Suite names in run order: ORDER from perf/suites/ORDER if present, else alphabetical."""
    names = sorted(f[:-3] for f in os.listdir(SUITE_DIR) if f.endswith(".py") and not f.startswith("_"))
    order_file = os.path.join(SUITE_DIR, "ORDER")
    if os.path.exists(order_file):
        with open(order_file) as f:
            first = [l.strip() for l in f if l.strip() and not l.startswith("#")]
        names = [n for n in first if n in names] + [n for n in names if n not in first]
    return names


def load_suite(name):
    spec = importlib.util.spec_from_file_location(f"perf_suite_{name}", os.path.join(SUITE_DIR, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def load_goals():
    goals = []
    with open(GOALS_FILE, encoding="utf-8") as f:
        for ln, line in enumerate(f, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 6:
                raise HarnessError(f"goals.tsv:{ln}: expected 6 tab-separated columns, got {len(cols)}")
            gid, level, metric, cmp, bound, desc = [c.strip() for c in cols[:6]]
            if cmp not in CMP:
                raise HarnessError(f"goals.tsv:{ln}: unknown comparator {cmp!r}")
            if level not in ("must", "info"):
                raise HarnessError(f"goals.tsv:{ln}: level must be 'must' or 'info'")
            goals.append({"id": gid, "level": level, "metric": metric, "cmp": cmp,
                          "bound": float(bound), "description": desc})
    return goals


def evaluate(goals, metrics, suites_run):
    out = []
    for g in goals:
        m = metrics.get(g["metric"])
        v = dict(g, measured=None, min=None, max=None, display=None)
        if m is None:
            v["verdict"] = "SKIP" if g["metric"].split(".")[0] not in suites_run else "N/A"
        else:
            v.update(measured=m["median"], min=m["min"], max=m["max"], display=m.get("display"))
            v["verdict"] = "PASS" if CMP[g["cmp"]](m["median"], g["bound"]) else "FAIL"
            # does the whole [min..max] range agree with the median's verdict?
            v["robust"] = CMP[g["cmp"]](m["min"], g["bound"]) == CMP[g["cmp"]](m["max"], g["bound"])
        out.append(v)
    return out


def goals_table(ev):
    rows = []
    for g in ev:
        unit = "ratio" if "ratio" in g["metric"] or g["metric"].endswith("_frac") else ""
        meas = g["display"] or (fmt_num(g["measured"], unit) if g["measured"] is not None else "-")
        spread = "-" if g["min"] is None else f"[{fmt_num(g['min'], unit)}..{fmt_num(g['max'], unit)}]"
        if g.get("robust") is False:
            spread += " (range crosses bound)"
        rows.append([g["id"], meas, f"{g['cmp']} {fmt_num(g['bound'], unit)}", g["verdict"],
                     spread, g["level"], g["description"]])
    t = md_table(["goal", "measured", "bound", "PASS/FAIL", "spread", "level", "what"], rows)
    cnt = lambda lvl, v: sum(1 for g in ev if g["level"] == lvl and g["verdict"] == v)
    tot = lambda lvl: sum(1 for g in ev if g["level"] == lvl and g["verdict"] in ("PASS", "FAIL"))
    skipped = sum(1 for g in ev if g["verdict"] in ("SKIP", "N/A"))
    line = (f"goals: must {cnt('must', 'PASS')}/{tot('must')} PASS, info {cnt('info', 'PASS')}/{tot('info')} PASS"
            + (f", {skipped} not measured (SKIP = suite not selected, N/A = no data)" if skipped else ""))
    return t, line


def _cmd_out(argv):
    try:
        cp = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (cp.stdout + cp.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return None


def _repo_head(repo):
    """Commit of the work tree, read from .git files (no git command is run)."""
    try:
        gd = os.path.join(repo, ".git")
        if os.path.isfile(gd):
            with open(gd) as f:
                gd = os.path.join(repo, f.read().split(":", 1)[1].strip())
        with open(os.path.join(gd, "HEAD")) as f:
            head = f.read().strip()
        if head.startswith("ref: "):
            ref = head[5:]
            p = os.path.join(gd, ref)
            if os.path.exists(p):
                with open(p) as f:
                    return ref, f.read().strip()
            with open(os.path.join(gd, "packed-refs")) as f:
                for line in f:
                    if line.strip().endswith(" " + ref):
                        return ref, line.split()[0]
            return ref, None
        return None, head
    except (OSError, IndexError):
        return None, None


def machine_meta(args, srv_cpu, lg_cpu):
    cpu_model = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu_model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), None)
    except OSError:
        pass
    b = {"path": args.binary}
    try:
        st = os.stat(args.binary)
        h = hashlib.sha256()
        with open(args.binary, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        b.update(size=st.st_size, mtime=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(st.st_mtime)),
                 sha256=h.hexdigest())
    except OSError:
        pass
    ref, commit = _repo_head(os.path.dirname(PERF_DIR))
    with open("/proc/loadavg") as f:
        la = f.read().split()[:3]
    return {
        "start_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mode": args.mode, "suites": args.suites_list, "host": platform.node(),
        "kernel": platform.release(), "nproc": os.cpu_count(), "cpu_model": cpu_model,
        "mem_total_kb": perflib.meminfo_kb("MemTotal"), "loadavg_start": [float(x) for x in la],
        "srv_cpu": srv_cpu, "lg_cpu": lg_cpu,
        "nofile": resource.getrlimit(resource.RLIMIT_NOFILE),
        "nginx": _cmd_out([args.nginx, "-v"]), "wrk": _cmd_out(["wrk", "-v"]),
        "python": platform.python_version(), "binary": b, "repo_ref": ref, "repo_commit": commit,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("quick", "full"), default="full")
    ap.add_argument("--suite", default="all")
    ap.add_argument("--binary")
    ap.add_argument("--out")
    ap.add_argument("--pidfile")
    ap.add_argument("--nginx", default="/usr/sbin/nginx")
    ap.add_argument("--keep-work", action="store_true")
    ap.add_argument("--list", action="store_true")
    args = ap.parse_args()

    names = available_suites()
    if args.list:
        print("suites:")
        for n in names:
            print(f"  {n:10} {load_suite(n).DESCRIPTION}")
        print("goals (perf/goals.tsv):")
        for g in load_goals():
            print(f"  {g['id']:20} {g['level']:4} {g['metric']} {g['cmp']} {g['bound']:g}  {g['description']}")
        return 0
    want = names if args.suite == "all" else [s.strip() for s in args.suite.split(",") if s.strip()]
    bad = [s for s in want if s not in names]
    if bad or not want or not args.binary or not args.out:
        print(f"main.py: unknown suite(s) {bad}; available: {', '.join(names)}" if bad else
              "main.py: --binary and --out are required", file=sys.stderr)
        return 2
    args.suites_list = want

    os.makedirs(args.out, exist_ok=True)
    perflib.set_log_file(os.path.join(args.out, "run.log"))
    if args.pidfile:
        perflib.set_pidfile(args.pidfile)

    def on_signal(sig, _frame):
        for x in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):   # one shot: let cleanup finish
            signal.signal(x, signal.SIG_IGN)
        raise SystemExit(128 + sig)
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(s, on_signal)

    nproc = os.cpu_count() or 1
    srv_cpu = int(os.environ.get("SRV_CPU", 0))
    lg_cpu = int(os.environ.get("LG_CPU", 1 if nproc > 1 else 0))
    port_base = int(os.environ.get("PORT_BASE", 27280))

    results = {"harness": "sandstorm perf/run", "harness_ok": False, "error": None,
               "meta": machine_meta(args, srv_cpu, lg_cpu), "suites": {}, "metrics": {},
               "goals": [], "notes": []}
    meta = results["meta"]
    log(f"mode {args.mode}, suites {', '.join(want)}, binary {args.binary}, out {args.out}")
    log(f"load average at start: {meta['loadavg_start']}")
    work = tempfile.mkdtemp(prefix="sandstorm-perf-")
    os.chmod(work, 0o755)   # nginx workers run as "nobody" when started by root
    ctx = Context(mode=args.mode, binary=args.binary, out_dir=args.out, work_dir=work,
                  srv_cpu=srv_cpu, lg_cpu=lg_cpu, port_base=port_base, nginx=args.nginx)
    if nproc < 2:
        ctx.note("only 1 CPU: server and load generator share it; numbers are not comparable to 2-CPU runs")
    if meta["loadavg_start"][0] > 1.0:
        ctx.note(f"machine busy at start (load1 {meta['loadavg_start'][0]}, which includes any run just before); "
                 "absolute numbers are unreliable, paired ratios less so")
    reports = []
    rc = 1
    try:
        goals = load_goals()    # fail early on a malformed goals file
        for name in want:
            mod = load_suite(name)
            p = mod.params(ctx)
            ctx.suite_meta = {}
            log(f"suite {name}: {mod.DESCRIPTION}; params {p}")
            t0 = time.monotonic()
            recs = mod.run(ctx, p)
            summ = mod.summarize(recs, p)
            results["suites"][name] = {"description": mod.DESCRIPTION, "params": p,
                                       "meta": ctx.suite_meta,
                                       "duration_s": round(time.monotonic() - t0, 1),
                                       "records": recs, "summary": summ}
            results["metrics"].update(summ)
            reports.append(mod.report(recs, summ, p))
            log(f"suite {name} done in {time.monotonic() - t0:.0f}s")
        results["harness_ok"] = True
        rc = 0
    except HarnessError as e:
        results["error"] = str(e)
        log(f"HARNESS FAILURE: {e}")
    except SystemExit as e:
        results["error"] = f"interrupted (exit {e.code})"
        log(results["error"])
        rc = e.code if isinstance(e.code, int) else 1
    except Exception as e:  # a bug in the harness: still clean up and record it
        import traceback
        results["error"] = f"{type(e).__name__}: {e}"
        log(traceback.format_exc())
    finally:
        perflib.stop_all()
        if args.keep_work:
            log(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    with open("/proc/loadavg") as f:
        meta["loadavg_end"] = [float(x) for x in f.read().split()[:3]]
    meta["end_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        goals = load_goals()
    except HarnessError as e:
        goals = []
        results["error"] = results["error"] or str(e)
        rc = 1
    ev = evaluate(goals, results["metrics"], want)
    results["goals"] = ev
    results["notes"] = ctx.notes
    gt, gline = goals_table(ev)

    head = (f"# perf run {meta['start_utc']} ({args.mode})\n\n"
            f"binary `{args.binary}` sha256 {str(meta['binary'].get('sha256'))[:12]} "
            f"(built {meta['binary'].get('mtime')}), repo {meta['repo_ref']} {str(meta['repo_commit'])[:12]}; "
            f"{meta['kernel']}, {meta['nproc']} CPUs ({meta['cpu_model']}); servers on CPU {srv_cpu}, "
            f"load generator on CPU {lg_cpu}; {meta['nginx']}; {meta['wrk']}; "
            f"loadavg start {meta['loadavg_start']} end {meta['loadavg_end']}\n\n"
            "S = our server, N = nginx (1 worker). Compare ratios from the same run; absolute numbers "
            "move ±30-50 % on this VM.\n")
    notes = "".join(f"\n- note: {n}" for n in ctx.notes)
    err = f"\n**HARNESS FAILURE:** {results['error']}\n" if results["error"] else ""
    text = (head + notes + "\n\n" + "\n".join(reports) + err +
            f"\n### goals (perf/goals.tsv)\n\n{gt}\n\n{gline}\n")
    with open(os.path.join(args.out, "report.md"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as f:
        json.dump(results, f, indent=1, sort_keys=False)
        f.write("\n")
    print("\n" + text)
    print(f"results: {os.path.join(args.out, 'results.json')}  report: {os.path.join(args.out, 'report.md')}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
