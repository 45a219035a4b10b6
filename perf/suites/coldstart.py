"""Suite "coldstart": a stopped grain to the first byte of its first response, vs bwrap.

S: shell/grain-start-bench drives the daemon's own GrainHost: sandbox spawn (namespaces, mounts,
   seccomp, cgroup), our bridge as pid 1, the notes app, the port probe, a Cap'n Proto session
   and one GET / through it; the grain is stopped (processes reaped, cgroup removed) between
   starts.
B: bwrap (Debian's bubblewrap) runs the same notes binary from the same unpacked package with
   a comparable sandbox (new user/pid/ipc/uts/cgroup namespaces, read-only package root, tmpfs
   /tmp, minimal /dev, die-with-parent) and the harness times spawn -> first byte of GET /.
   bwrap's network namespace is shared, so the app is reachable (ours has its own network
   namespace; the bridge reaches the app inside it).
"""
import json
import os
import shutil
import socket
import subprocess
import time

from perflib import HarnessError, fmt_mmm, log, md_table, mmm

DESCRIPTION = "cold grain start (stopped -> first response byte) vs bwrap spawning the same app"


def params(ctx):
    return {"starts": ctx.env_int("STARTS", 20 if ctx.quick else 100)}


def _build_dir(ctx):
    return os.path.dirname(os.path.dirname(os.path.abspath(ctx.binary)))


def _first_byte(port, deadline):
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                if s.recv(1):
                    return True
        except OSError:
            time.sleep(0.0005)
    return False


def run(ctx, p):
    if os.geteuid() != 0:
        raise HarnessError("the coldstart suite needs root (grains run in a sandbox with cgroups)")
    build = _build_dir(ctx)
    bench = os.path.join(build, "shell", "grain-start-bench")
    bridge = os.path.join(build, "rpc", "bridge", "sandstorm-http-bridge")
    spk = os.path.join(build, "apps", "notes.spk")
    for f in (bench, bridge, spk):
        if not os.path.exists(f):
            raise HarnessError(f"{f} is missing (ninja -C {build} grain-start-bench demo-apps)")
    os.chmod(ctx.work_dir, 0o711)
    pkg = os.path.join(ctx.work_dir, "coldstart-notes")
    subprocess.run([ctx.binary, "spk", "unpack", spk, pkg], check=True, stdout=subprocess.DEVNULL)

    out = subprocess.run(["taskset", "-c", str(ctx.srv_cpu), bench, pkg, bridge, str(p["starts"])],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise HarnessError(f"grain-start-bench failed:\n{out.stderr[-3000:]}")
    ours = json.loads(out.stdout.strip().splitlines()[-1])["ms"]
    log(f"coldstart S: median {sorted(ours)[len(ours) // 2]:.2f} ms over {len(ours)} starts")

    bwrap = shutil.which("bwrap")
    theirs = []
    if bwrap is None:
        ctx.note("bwrap is missing (apt-get install bubblewrap): no B comparison")
    else:
        port = ctx.port("coldstart-B")
        var = os.path.join(ctx.work_dir, "coldstart-B-var")
        os.makedirs(var, exist_ok=True)
        for i in range(p["starts"]):
            argv = ["taskset", "-c", str(ctx.srv_cpu), bwrap, "--unshare-user", "--unshare-pid",
                    "--unshare-ipc", "--unshare-uts", "--unshare-cgroup", "--die-with-parent",
                    "--ro-bind", pkg, "/", "--bind", var, "/var", "--tmpfs", "/tmp", "--dev", "/dev",
                    "--setenv", "NOTES_DIR", "/var/notes", "/bin/notes", str(port)]
            t0 = time.monotonic()
            proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ok = _first_byte(port, t0 + 10)
            t1 = time.monotonic()
            proc.kill()
            proc.wait()
            if not ok:
                raise HarnessError("bwrap-run notes did not answer within 10 s")
            theirs.append((t1 - t0) * 1000)
            time.sleep(0.005)
        log(f"coldstart B: median {sorted(theirs)[len(theirs) // 2]:.2f} ms")
    return [{"target": "S", "ms": x} for x in ours] + [{"target": "B", "ms": x} for x in theirs]


def _pct(xs, q):
    s = sorted(xs)
    return s[min(len(s) - 1, int(len(s) * q))] if s else None


def summarize(recs, p):
    m = {}
    for t in "SB":
        xs = [r["ms"] for r in recs if r["target"] == t]
        if xs:
            m[f"coldstart.{t}.ms"] = mmm(xs)
            m[f"coldstart.{t}.p90_ms"] = {"median": _pct(xs, 0.9), "min": _pct(xs, 0.9),
                                          "max": _pct(xs, 0.9), "n": len(xs)}
    if "coldstart.S.ms" in m and "coldstart.B.ms" in m:
        r = m["coldstart.S.ms"]["median"] / m["coldstart.B.ms"]["median"]
        m["coldstart.ratio.median"] = {"median": r, "min": r, "max": r, "n": 1}
    return m


def report(recs, m, p):
    rows = []
    for t, name in (("S", "ours: stopped grain -> first response byte"), ("B", "bwrap -> same app's first byte")):
        if f"coldstart.{t}.ms" in m:
            rows.append([name, fmt_mmm(m[f"coldstart.{t}.ms"]), f"{m[f'coldstart.{t}.p90_ms']['median']:.2f}"])
    t = md_table(["path", "ms median [min..max]", "p90 ms"], rows)
    ratio = m.get("coldstart.ratio.median")
    extra = f"\n\nmedian S/B: {ratio['median']:.2f}\n" if ratio else "\n"
    return f"### coldstart: {p['starts']} starts each\n\n{t}{extra}"
