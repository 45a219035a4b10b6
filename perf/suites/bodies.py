"""Suite "bodies": large request and response bodies through the grain path vs nginx.

S = `sandstorm dev grain-test.spk`: the daemon splices the client socket into a pipe passed to
    the grain over Cap'n Proto, and the bridge splices that pipe into the app's socket (and the
    reverse for responses).
N = nginx proxying (unbuffered, keep-alive upstream) to the same test app run directly.

The app (rpc/bridge/test-app.c++) answers GET /download?size=N with N bytes and POST /sink by
discarding the body. A keep-alive client pinned to lg_cpu moves 1 MiB bodies (many times) and
100 MiB bodies (a few times) each way. Reported: MiB/s and the front end's CPU ms per MiB (S: the
daemon process alone; N: nginx's processes).
"""
import os
import socket
import time

from perflib import (HarnessError, Server, _stat_fields, cpu_delta_us, fmt_mmm, http_get, log,
                     md_table, mmm, spawn, stop_server, tree_cpu_ticks, HZ, LOOPBACK)

DESCRIPTION = "1 MiB and 100 MiB bodies up and down: daemon->capnp->bridge (spliced) vs nginx"
MIB = 1 << 20


def params(ctx):
    q = ctx.quick
    return {"reps": ctx.env_int("REPS", 2 if q else 5),
            "sizes": {MIB: 100 if q else 300, 100 * MIB: 2 if q else 5}}


def _build_dir(ctx):
    return os.path.dirname(os.path.dirname(os.path.abspath(ctx.binary)))


class Client:
    """One keep-alive HTTP/1.1 connection, reading and writing with large buffers."""

    def __init__(self, port):
        self.s = socket.create_connection((LOOPBACK, port), timeout=60)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray(4 * MIB)
        self.rest = b""

    def _head(self):
        data = self.rest
        while b"\r\n\r\n" not in data:
            chunk = self.s.recv(65536)
            if not chunk:
                raise HarnessError("connection closed before a response head")
            data += chunk
        i = data.index(b"\r\n\r\n")
        head, self.rest = data[:i].decode("latin-1"), data[i + 4:]
        status = int(head.split(" ", 2)[1])
        length = 0
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v.strip())
        return status, length

    def _drain(self, length):
        got = len(self.rest)
        self.rest = b""
        view = memoryview(self.buf)
        while got < length:
            n = self.s.recv_into(view, min(len(self.buf), length - got))
            if n == 0:
                raise HarnessError("connection closed mid-body")
            got += n

    def download(self, size):
        self.s.sendall(f"GET /download?size={size} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, length = self._head()
        if status != 200 or length != size:
            raise HarnessError(f"download: status {status}, length {length}")
        self._drain(length)

    def upload(self, size, payload):
        self.s.sendall(f"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                       f"Content-Length: {size}\r\n\r\n".encode())
        view = memoryview(payload)
        sent = 0
        while sent < size:
            n = min(len(payload), size - sent)
            self.s.sendall(view[:n])
            sent += n
        status, length = self._head()
        body = self.rest
        while len(body) < length:
            body += self.s.recv(65536)
        self.rest = b""
        if status != 200 or int(body[:length]) != size:
            raise HarnessError(f"upload: status {status}, body {body[:40]!r}")


def _wait(srv, timeout=60.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not srv.alive():
            raise HarnessError(f"{srv.name} exited early; log {srv.log_path}:\n{srv.log_tail()}")
        try:
            st, _, _ = http_get(srv.port, "/sink", timeout=5.0)
            if st in (200, 404, 405, 411):
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise HarnessError(f"{srv.name} did not answer within {timeout:.0f}s")


def run(ctx, p):
    if os.geteuid() != 0:
        raise HarnessError("the bodies suite needs root (grains run in a sandbox with cgroups)")
    build = _build_dir(ctx)
    spk = os.path.join(build, "tests", "grain-test.spk")
    app = os.path.join(build, "rpc", "bridge", "bridge-test-app")
    for f in (spk, app):
        if not os.path.exists(f):
            raise HarnessError(f"{f} is missing (ninja -C {build} grain-test-packages)")
    pd = ctx.port("bodies-D")
    lp = os.path.join(ctx.out_dir, "logs", "bodies-D.log")
    d = Server("bodies-D", "D", pd, spawn([app, str(pd)], lp, cpu=ctx.srv_cpu), lp)
    ps = ctx.port("bodies-S")
    data = os.path.join(ctx.work_dir, "bodies-S-data")
    os.makedirs(data, mode=0o711, exist_ok=True)
    os.chmod(ctx.work_dir, 0o711)
    lp = os.path.join(ctx.out_dir, "logs", "bodies-S.log")
    s = Server("bodies-S", "S", ps, spawn([ctx.binary, "dev", "--port", str(ps), "--data-dir", data,
                                           "--idle-timeout", "86400", spk], lp, cpu=ctx.srv_cpu), lp)
    n = ctx.start_nginx("bodies-N", ctx.port("bodies-N"), ctx.work_dir, None, None,
                        template="nginx-proxy.conf.in", extra={"UPSTREAM_PORT": pd})
    for srv in (d, s, n):
        _wait(srv)
    payload = os.urandom(4 * MIB)
    old_affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {ctx.lg_cpu})
    recs = []
    try:
        for rep in range(1, p["reps"] + 1):
            for size, count in p["sizes"].items():
                for direction in ("down", "up"):
                    for srv in ((s, n) if rep % 2 else (n, s)):
                        c = Client(srv.port)
                        c.download(MIB) if direction == "down" else c.upload(MIB, payload)  # warm
                        before = tree_cpu_ticks(srv.pid)
                        t0 = time.monotonic()
                        for _ in range(count):
                            c.download(size) if direction == "down" else c.upload(size, payload)
                        wall = time.monotonic() - t0
                        after = tree_cpu_ticks(srv.pid)
                        c.s.close()
                        if srv.kind == "S":
                            front_us = (after.get(srv.pid, 0) - before.get(srv.pid, 0)) * 1e6 / HZ
                        else:
                            front_us = cpu_delta_us(before, after)
                        mib = size * count / MIB
                        rec = {"rep": rep, "size": size, "dir": direction, "target": srv.kind,
                               "mib_per_s": mib / wall, "cpu_ms_per_mib": front_us / 1000 / mib}
                        recs.append(rec)
                        log(f"bodies rep {rep} {size // MIB:>3} MiB {direction:<4} {srv.kind}: "
                            f"{rec['mib_per_s']:8.0f} MiB/s, front CPU {rec['cpu_ms_per_mib']:.3f} ms/MiB")
    finally:
        os.sched_setaffinity(0, old_affinity)
    for srv in (s, n, d):
        stop_server(srv)
    return recs


def summarize(recs, p):
    m = {}
    for size in p["sizes"]:
        tag = f"{size // MIB}m"
        for direction in ("down", "up"):
            by = {t: {r["rep"]: r for r in recs if r["size"] == size and r["dir"] == direction
                      and r["target"] == t} for t in "SN"}
            for t in "SN":
                for k in ("mib_per_s", "cpu_ms_per_mib"):
                    m[f"bodies.{tag}.{direction}.{t}.{k}"] = mmm([r[k] for r in by[t].values()])
            reps = sorted(set(by["S"]) & set(by["N"]))
            m[f"bodies.{tag}.{direction}.ratio.mib_per_s"] = mmm(
                [by["S"][i]["mib_per_s"] / by["N"][i]["mib_per_s"] for i in reps])
            m[f"bodies.{tag}.{direction}.ratio.cpu"] = mmm(
                [by["S"][i]["cpu_ms_per_mib"] / by["N"][i]["cpu_ms_per_mib"] for i in reps
                 if by["N"][i]["cpu_ms_per_mib"] > 0])
    return m


def report(recs, m, p):
    rows = []
    for size in p["sizes"]:
        tag = f"{size // MIB}m"
        for direction in ("down", "up"):
            g = lambda k: fmt_mmm(m.get(f"bodies.{tag}.{direction}.{k}"))
            r = lambda k: fmt_mmm(m.get(f"bodies.{tag}.{direction}.ratio.{k}"), "ratio")
            rows.append([f"{size // MIB} MiB", direction, g("S.mib_per_s"), g("N.mib_per_s"), r("mib_per_s"),
                         g("S.cpu_ms_per_mib"), g("N.cpu_ms_per_mib"), r("cpu")])
    t = md_table(["body", "dir", "S MiB/s", "N MiB/s", "S/N", "S CPU ms/MiB", "N CPU ms/MiB",
                  "CPU S/N"], rows)
    return (f"### bodies: keep-alive transfers through the grain path (S) and nginx (N); "
            f"{p['reps']} reps\n\nFront-end CPU only (S: the daemon; N: nginx).\n\n{t}\n")
