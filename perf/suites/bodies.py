"""Suite "bodies": large request and response bodies through the grain path vs nginx.

S = `sandstorm dev notes.spk`: the daemon splices the client socket into a pipe passed to the
    grain over Cap'n Proto, and the bridge splices that pipe into the app's socket (and the
    reverse for responses).
N = nginx reverse-proxying (keep-alive upstream, responses buffered in memory as in the anchors
    kit, request bodies streamed) to the same notes binary run directly.
D = that notes process directly (reference only: no front end).

The notes app's benchmark routes: GET /bytes?n=N streams N bytes ('a' + i % 26) and POST /sink
reads a body of any size without keeping it and answers "<bytes> <64-bit word sum>". One
keep-alive connection (the client pinned to lg_cpu) moves bodies back to back for at least
`min_s` seconds and `min_count` bodies per cell. The first body of every cell is checked (the
download byte for byte, every upload by its size and sum). Reported: MiB/s and CPU ms per MiB of
the front end (S: the daemon process alone; N: nginx's processes), of S's bridge, and of the app.
"""
import os
import socket
import time

from perflib import (HarnessError, Server, cpu_delta_us, fmt_mmm, http_get, log, md_table, mmm,
                     spawn, stop_server, tree_cpu_ticks, HZ, LOOPBACK)

DESCRIPTION = "1 MiB and 100 MiB bodies up and down: daemon->capnp->bridge (spliced) vs nginx -> notes app"
MIB = 1 << 20
MASK64 = (1 << 64) - 1
ALPHABET = bytes(range(ord("a"), ord("z") + 1))


def params(ctx):
    q = ctx.quick
    return {"reps": ctx.env_int("REPS", 2 if q else 5),
            "min_s": ctx.env_float("BODIES_MIN_S", 1.0 if q else 2.5),
            "sizes": {MIB: 20, 100 * MIB: 3},   # size -> min_count
            "targets": "SND"}


def _build_dir(ctx):
    return os.path.dirname(os.path.dirname(os.path.abspath(ctx.binary)))


def _wordsum(data):
    pad = -len(data) % 8
    if pad:
        data = bytes(data) + b"\0" * pad
    return sum(memoryview(data).cast("Q")) & MASK64


class Client:
    """One keep-alive HTTP/1.1 connection, reading and writing with large buffers."""

    def __init__(self, port, payload):
        self.s = socket.create_connection((LOOPBACK, port), timeout=60)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray(4 * MIB)
        self.rest = b""
        self.payload = payload
        self.psum = _wordsum(payload)
        self.sums = {}

    def close(self):
        self.s.close()

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

    def download(self, size, check=False):
        self.s.sendall(f"GET /bytes?n={size} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, length = self._head()
        if status != 200 or length != size:
            raise HarnessError(f"download: status {status}, length {length} (wanted {size})")
        got = len(self.rest)
        kept = [self.rest] if check else None
        self.rest = b""
        view = memoryview(self.buf)
        while got < length:
            n = self.s.recv_into(view, min(len(self.buf), length - got))
            if n == 0:
                raise HarnessError("connection closed mid-body")
            if check:
                kept.append(bytes(view[:n]))
            got += n
        if got > length:
            raise HarnessError("download: more bytes than Content-Length")
        if check:
            body = b"".join(kept)
            want = (ALPHABET * (size // 26 + 1))[:size]
            if body != want:
                raise HarnessError(f"download of {size} bytes: wrong content")

    def _expected_sum(self, size):
        if size not in self.sums:
            p = len(self.payload)            # a multiple of 8
            self.sums[size] = ((size // p) * self.psum + _wordsum(self.payload[:size % p])) & MASK64
        return self.sums[size]

    def upload(self, size):
        self.s.sendall(f"POST /sink HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                       f"Content-Length: {size}\r\n\r\n".encode())
        view = memoryview(self.payload)
        sent = 0
        while sent < size:
            n = min(len(self.payload), size - sent)
            self.s.sendall(view[:n])
            sent += n
        status, length = self._head()
        body = self.rest
        while len(body) < length:
            chunk = self.s.recv(65536)
            if not chunk:
                raise HarnessError("connection closed in the /sink answer")
            body += chunk
        self.rest = body[length:]
        parts = body[:length].split()
        want = f"{size} {self._expected_sum(size):016x}"
        if status != 200 or b" ".join(parts).decode("latin-1") != want:
            raise HarnessError(f"upload of {size} bytes: status {status}, answer {body[:60]!r}, "
                               f"wanted {want!r}")


def _wait(srv, timeout=60.0):
    t0 = time.monotonic()
    last = ""
    while time.monotonic() - t0 < timeout:
        if not srv.alive():
            raise HarnessError(f"{srv.name} exited early; log {srv.log_path}:\n{srv.log_tail()}")
        try:
            st, _, body = http_get(srv.port, "/bytes?n=26", timeout=5.0)
            if st == 200 and body == ALPHABET:
                return
            last = f"status {st}, body {body[:40]!r}"
        except (OSError, ValueError) as e:
            last = str(e)
        time.sleep(0.05)
    raise HarnessError(f"{srv.name} did not answer GET /bytes?n=26 within {timeout:.0f}s ({last}); "
                       f"log {srv.log_path}:\n{srv.log_tail()}")


def _start(ctx):
    if os.geteuid() != 0:
        raise HarnessError("the bodies suite needs root (grains run in a sandbox with cgroups)")
    build = _build_dir(ctx)
    spk = os.path.join(build, "apps", "notes.spk")
    app = os.path.join(build, "apps", "notes-root", "bin", "notes")
    for f in (spk, app):
        if not os.path.exists(f):
            raise HarnessError(f"{f} is missing: build the demo apps (ninja -C {build} demo-apps)")
    pd = ctx.port("bodies-D")
    ctx._check_port(pd, "bodies-D")
    os.environ["NOTES_DIR"] = os.path.join(ctx.work_dir, "bodies-D-notes")
    lp = os.path.join(ctx.out_dir, "logs", "bodies-D.log")
    d = Server("bodies-D", "D", pd, spawn([app, str(pd)], lp, cpu=ctx.srv_cpu), lp)
    del os.environ["NOTES_DIR"]
    ps = ctx.port("bodies-S")
    ctx._check_port(ps, "bodies-S")
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
    return s, n, d


def _split(before, after, srv, app_pid):
    """(front, bridge, app) CPU µs over a cell."""
    if srv.kind == "S":
        front = (after[0].get(srv.pid, 0) - before[0].get(srv.pid, 0)) * 1e6 / HZ
        grain = cpu_delta_us(before[0], after[0]) - front
        app = cpu_delta_us(before[1], after[1])   # the grain's notes process, found at start
        return front, max(grain - app, 0.0), app
    if srv.kind == "N":
        return cpu_delta_us(before[0], after[0]), None, cpu_delta_us(before[1], after[1])
    return 0.0, None, cpu_delta_us(before[0], after[0])


def _grain_app_pid(s):
    from perflib import process_tree
    for pid in process_tree(s.pid)[1:]:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().startswith("notes"):
                    return pid
        except OSError:
            pass
    raise HarnessError("bodies: no notes process below the dev server")


def run(ctx, p):
    s, n, d = _start(ctx)
    s_app = _grain_app_pid(s)
    app_of = {"S": s_app, "N": d.pid, "D": d.pid}
    payload = os.urandom(4 * MIB)
    targets = [srv for srv in (s, n, d) if srv.kind in p["targets"]]
    old_affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {ctx.lg_cpu})
    recs = []
    try:
        for rep in range(1, p["reps"] + 1):
            for size, min_count in p["sizes"].items():
                for direction in ("down", "up"):
                    for srv in (targets if rep % 2 else targets[::-1]):
                        c = Client(srv.port, payload)
                        # warm-up and content check (not timed)
                        c.download(size, check=True) if direction == "down" else c.upload(size)
                        snap = lambda: (tree_cpu_ticks(srv.pid), tree_cpu_ticks(app_of[srv.kind]))
                        before = snap()
                        t0 = time.monotonic()
                        count = 0
                        while count < min_count or time.monotonic() - t0 < p["min_s"]:
                            c.download(size) if direction == "down" else c.upload(size)
                            count += 1
                        wall = time.monotonic() - t0
                        after = snap()
                        c.close()
                        if not srv.alive():
                            raise HarnessError(f"{srv.name} died; log {srv.log_path}:\n{srv.log_tail()}")
                        front, bridge, app = _split(before, after, srv, app_of[srv.kind])
                        mib = size * count / MIB
                        rec = {"rep": rep, "size": size, "dir": direction, "target": srv.kind,
                               "count": count, "wall_s": wall, "mib_per_s": mib / wall,
                               "cpu_ms_per_mib": front / 1000 / mib,
                               "bridge_cpu_ms_per_mib": None if bridge is None else bridge / 1000 / mib,
                               "app_cpu_ms_per_mib": app / 1000 / mib}
                        recs.append(rec)
                        log(f"bodies rep {rep} {size // MIB:>3} MiB {direction:<4} {srv.kind}: "
                            f"{rec['mib_per_s']:8.0f} MiB/s x{count}, front CPU {rec['cpu_ms_per_mib']:.3f} ms/MiB"
                            + (f", bridge {rec['bridge_cpu_ms_per_mib']:.3f}" if bridge is not None else "")
                            + f", app {rec['app_cpu_ms_per_mib']:.3f}")
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
                      and r["target"] == t} for t in "SND"}
            for t in "SND":
                for k in ("mib_per_s", "cpu_ms_per_mib", "bridge_cpu_ms_per_mib", "app_cpu_ms_per_mib"):
                    v = mmm([r.get(k) for r in by[t].values()])
                    if v is not None:
                        m[f"bodies.{tag}.{direction}.{t}.{k}"] = v
            reps = sorted(set(by["S"]) & set(by["N"]))
            m[f"bodies.{tag}.{direction}.ratio.mib_per_s"] = mmm(
                [by["S"][i]["mib_per_s"] / by["N"][i]["mib_per_s"] for i in reps])
            m[f"bodies.{tag}.{direction}.ratio.cpu"] = mmm(
                [by["S"][i]["cpu_ms_per_mib"] / by["N"][i]["cpu_ms_per_mib"] for i in reps
                 if by["N"][i]["cpu_ms_per_mib"] > 0])
            reps = sorted(set(by["S"]) & set(by["D"]))
            m[f"bodies.{tag}.{direction}.ratio.mib_per_s_vs_direct"] = mmm(
                [by["S"][i]["mib_per_s"] / by["D"][i]["mib_per_s"] for i in reps])
    return {k: v for k, v in m.items() if v is not None}


def report(recs, m, p):
    rows = []
    for size in p["sizes"]:
        tag = f"{size // MIB}m"
        for direction in ("down", "up"):
            g = lambda k: fmt_mmm(m.get(f"bodies.{tag}.{direction}.{k}"))
            r = lambda k: fmt_mmm(m.get(f"bodies.{tag}.{direction}.ratio.{k}"), "ratio")
            rows.append([f"{size // MIB} MiB", direction, g("S.mib_per_s"), g("N.mib_per_s"),
                         g("D.mib_per_s"), r("mib_per_s"), g("S.cpu_ms_per_mib"),
                         g("N.cpu_ms_per_mib"), r("cpu"), g("S.bridge_cpu_ms_per_mib"),
                         g("S.app_cpu_ms_per_mib"), g("N.app_cpu_ms_per_mib")])
    t = md_table(["body", "dir", "S MiB/s", "N MiB/s", "D MiB/s", "S/N MiB/s", "S front ms/MiB",
                  "N front ms/MiB", "front CPU S/N", "S bridge ms/MiB", "S app ms/MiB",
                  "N app ms/MiB"], rows)
    return (f"### bodies: one keep-alive connection, bodies back to back for >= {p['min_s']} s per cell; "
            f"{p['reps']} reps\n\n"
            f"S = daemon -> capnp/pipes -> bridge -> notes (sandboxed); N = nginx -> notes; D = notes "
            f"directly. Front-end CPU: S the daemon alone, N nginx (master + worker); 10 ms ticks.\n\n"
            f"{t}\n")
