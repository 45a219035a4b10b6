"""Suite "pkg": package verify and unpack speed, our zstd format vs Sandstorm's xz.

Runs build/pkg/pkg-bench (pkg/pack-bench.c++): a 100 MiB package of random files (400 files),
packed in both formats, then verified (read, decompress, both signatures, package ID) and
verified + unpacked (files written, syncfs, atomic rename), each timed. Throughput is the
archive's 100 MiB over that time.
"""
import os
import re
import subprocess

from perflib import HarnessError, fmt_mmm, log, md_table, mmm

DESCRIPTION = "100 MiB package: verify and verify+unpack, zstd (ours) vs xz (Sandstorm's)"
LINE = re.compile(r"^(zstd|xz)\s+file\s+([\d.]+) MB \(pack\s+([\d.]+) s\) \| verify ([\d.]+) s "
                  r"\(\s*(\d+) MB/s\) \| verify\+unpack ([\d.]+) s \(\s*(\d+) MB/s\)")


def params(ctx):
    return {"reps": ctx.env_int("PKG_REPS", 1 if ctx.quick else 3), "mib": 100}


def run(ctx, p):
    bench = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(ctx.binary))), "pkg", "pkg-bench")
    if not os.path.exists(bench):
        raise HarnessError(f"{bench} is missing (ninja pkg-bench)")
    recs = []
    for rep in range(1, p["reps"] + 1):
        out = subprocess.run(["taskset", "-c", str(ctx.srv_cpu) + "," + str(ctx.lg_cpu), bench, str(p["mib"])],
                             capture_output=True, text=True, timeout=900, cwd=ctx.work_dir)
        if out.returncode != 0:
            raise HarnessError(f"pkg-bench failed:\n{out.stderr[-2000:]}")
        for line in out.stdout.splitlines():
            m = LINE.match(line)
            if m:
                rec = {"rep": rep, "format": m.group(1), "verify_s": float(m.group(4)),
                       "verify_mb_s": float(m.group(5)), "unpack_s": float(m.group(6)),
                       "unpack_mb_s": float(m.group(7))}
                recs.append(rec)
                log(f"pkg rep {rep} {rec}")
    if not recs:
        raise HarnessError("pkg-bench printed no result lines")
    return recs


def summarize(recs, p):
    m = {}
    for f in ("zstd", "xz"):
        rs = [r for r in recs if r["format"] == f]
        for k in ("verify_s", "verify_mb_s", "unpack_s", "unpack_mb_s"):
            m[f"pkg.{f}.{k}"] = mmm([r[k] for r in rs])
    return m


def report(recs, m, p):
    rows = [[f, fmt_mmm(m[f"pkg.{f}.verify_s"]), fmt_mmm(m[f"pkg.{f}.verify_mb_s"]),
             fmt_mmm(m[f"pkg.{f}.unpack_s"]), fmt_mmm(m[f"pkg.{f}.unpack_mb_s"])] for f in ("zstd", "xz")]
    return ("### pkg: a 100 MiB package (400 files)\n\n" +
            md_table(["format", "verify s", "verify MB/s", "verify+unpack s", "verify+unpack MB/s"], rows) + "\n")
