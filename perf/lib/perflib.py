"""Shared helpers for the perf harness (python3 stdlib only).

Everything a suite needs lives here: starting/stopping servers (our binary "S" and the
reference nginx "N"), reading process CPU time and memory from /proc, running wrk,
and summarising repetitions (median [min..max], paired ratios).
"""
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time

PERF_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HZ = os.sysconf("SC_CLK_TCK")
LOOPBACK = "127.0.0.1"


class HarnessError(Exception):
    """The harness itself failed (server did not start, wrk produced no result, ...)."""


_log_file = None


def set_log_file(path):
    global _log_file
    _log_file = open(path, "a", buffering=1)


def log(msg):
    line = f"[perf {time.strftime('%H:%M:%S')}] {msg}"
    print(line, file=sys.stderr, flush=True)
    if _log_file:
        _log_file.write(line + "\n")


# --------------------------------------------------------------------------- processes

_procs = []          # Popen objects we started and have not stopped yet
_pidfile = None      # process-group ids still running, for perf/run's EXIT trap


def set_pidfile(path):
    global _pidfile
    _pidfile = path
    _write_pidfile()


def _write_pidfile():
    if _pidfile:
        with open(_pidfile, "w") as f:
            for p in _procs:
                f.write(f"{p.pid}\n")


def spawn(argv, log_path=None, cpu=None, cwd=None, stdout=None):
    """Start argv in its own session (so its whole process group can be stopped by id),
    optionally pinned to one CPU with taskset (taskset execs, so the pid is the program's)."""
    argv = [str(a) for a in argv]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + argv
    out = stdout
    if out is None:
        out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                         stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
    if out is not stdout and out is not subprocess.DEVNULL:
        out.close()
    _procs.append(p)
    _write_pidfile()
    return p


def stop(p, timeout=5.0):
    """SIGTERM, wait up to `timeout`, then SIGKILL the process group. Returns True when the
    process exited by itself within the timeout (i.e. it honoured SIGTERM)."""
    graceful = True
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            graceful = False
    # leftovers of its group (e.g. nginx workers), or the process itself if it ignored TERM
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if p.poll() is None:
        p.wait(5)
    if p in _procs:
        _procs.remove(p)
        _write_pidfile()
    return graceful


def stop_all():
    for p in list(_procs):
        try:
            stop(p, 3.0)
        except Exception as e:  # keep going: every process must be stopped
            log(f"warning: could not stop pid {p.pid}: {e}")


def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    return s[s.rfind(")") + 2:].split()   # fields[0] is field 3 (state) of proc(5)


def process_tree(root):
    """root pid plus all its descendants (scan of /proc)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = int(_stat_fields(d)[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, i = [root], 0
    while i < len(out):
        out += children.get(out[i], [])
        i += 1
    return out


def tree_cpu_ticks(root):
    """{pid: utime+stime ticks} for root and its descendants."""
    res = {}
    for pid in process_tree(root):
        try:
            f = _stat_fields(pid)
            res[pid] = int(f[11]) + int(f[12])   # fields 14 (utime) + 15 (stime)
        except (OSError, IndexError, ValueError):
            pass
    return res


def cpu_delta_us(before, after):
    """CPU microseconds used between two tree_cpu_ticks() snapshots."""
    ticks = sum(t - before.get(pid, 0) for pid, t in after.items())
    return ticks * 1e6 / HZ


def _status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_mem_kb(root):
    """(VmRSS, Pss) in KiB summed over root and its descendants."""
    pids = process_tree(root)
    return sum(_status_kb(p, "VmRSS") for p in pids), sum(_pss_kb(p) for p in pids)


def tree_fd_count(root):
    n = 0
    for p in process_tree(root):
        try:
            n += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            pass
    return n


def meminfo_kb(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def tcp_mem_pages():
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                x = line.split()
                return int(x[x.index("mem") + 1])
    return 0


def _listen_sockets():
    """[(port, accept_queue_len)] of TCP sockets in LISTEN state."""
    res = []
    for fn in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(fn) as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            x = line.split()
            if len(x) > 4 and x[3] == "0A":
                port = int(x[1].rsplit(":", 1)[1], 16)
                rxq = int(x[4].split(":")[1], 16)   # for LISTEN sockets: current accept backlog
                res.append((port, rxq))
    return res


def port_listening(port):
    return any(p == port for p, _ in _listen_sockets())


def accept_backlog(port):
    """Connections completed by the kernel but not yet accept()ed by the server on `port`."""
    return sum(q for p, q in _listen_sockets() if p == port)


def load1():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def cpu_stat():
    """(total, steal) jiffies from /proc/stat."""
    with open("/proc/stat") as f:
        x = [int(v) for v in f.readline().split()[1:]]
    return sum(x), (x[7] if len(x) > 7 else 0)


def children_cpu_s():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


# --------------------------------------------------------------------------- HTTP/1.1

def parse_response(buf):
    """If buf starts with a complete HTTP/1.1 response, return (status, end_offset, headers, body);
    else None. Handles Content-Length, chunked, and bodiless statuses."""
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return None
    lines = buf[:i].decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        raise ValueError(f"bad status line: {lines[0]!r}")
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    start = i + 4
    if status in (204, 304) or 100 <= status < 200:
        return status, start, hdrs, b""
    if "chunked" in hdrs.get("transfer-encoding", "").lower():
        pos, body = start, []
        while True:
            j = buf.find(b"\r\n", pos)
            if j < 0:
                return None
            size = int(buf[pos:j].split(b";")[0], 16)
            if size == 0:
                if buf[j + 2:j + 4] == b"\r\n":
                    return status, j + 4, hdrs, b"".join(body)
                k = buf.find(b"\r\n\r\n", j + 2)
                return None if k < 0 else (status, k + 4, hdrs, b"".join(body))
            if len(buf) < j + 2 + size + 2:
                return None
            body.append(buf[j + 2:j + 2 + size])
            pos = j + 2 + size + 2
    if "content-length" in hdrs:
        end = start + int(hdrs["content-length"])
        return (status, end, hdrs, buf[start:end]) if len(buf) >= end else None
    return None   # body delimited by EOF: incomplete until the caller sees EOF


def http_get(port, path, host=LOOPBACK, timeout=2.0):
    """One GET with Connection: close. Returns (status, headers, body)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        buf = b""
        while True:
            r = parse_response(buf) if buf else None
            if r:
                return r[0], r[2], r[3]
            d = s.recv(65536)
            if not d:
                i = buf.find(b"\r\n\r\n")
                if i < 0:
                    raise OSError("connection closed before a full response")
                st = int(buf.split(b"\r\n", 1)[0].split()[1])
                return st, {}, buf[i + 4:]
            buf += d


# --------------------------------------------------------------------------- servers

class Server:
    def __init__(self, name, kind, port, proc, log_path):
        self.name, self.kind, self.port, self.proc, self.log_path = name, kind, port, proc, log_path
        self.banner_seen = None
        self.start_s = None

    @property
    def pid(self):
        return self.proc.pid

    def url(self, path):
        return f"http://{LOOPBACK}:{self.port}{path}"

    def alive(self):
        return self.proc.poll() is None

    def log_tail(self, n=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""


def wait_ready(srv, check_path, expect_body, timeout, banner_re=None):
    """Wait until GET check_path answers 200 with expect_body. Raises HarnessError on exit/timeout."""
    t0 = time.monotonic()
    last = "no attempt"
    while True:
        if not srv.alive():
            raise HarnessError(f"{srv.name} exited with code {srv.proc.returncode} before serving "
                               f"{check_path}; log {srv.log_path}:\n{srv.log_tail()}")
        if time.monotonic() - t0 > timeout:
            raise HarnessError(f"{srv.name} did not serve {check_path} within {timeout:.0f}s "
                               f"(last: {last}); log {srv.log_path}:\n{srv.log_tail()}")
        try:
            st, _, body = http_get(srv.port, check_path, timeout=1.0)
            if st == 200 and body == expect_body:
                break
            last = f"status {st}, {len(body)} body bytes" + ("" if st != 200 else " (content differs)")
        except (OSError, ValueError) as e:
            last = str(e)
        time.sleep(0.05)
    srv.start_s = time.monotonic() - t0
    if banner_re is not None:
        deadline = time.monotonic() + 2.0
        while True:
            try:
                with open(srv.log_path, errors="replace") as f:
                    srv.banner_seen = bool(re.search(banner_re, f.read()))
            except OSError:
                srv.banner_seen = False
            if srv.banner_seen or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        if not srv.banner_seen:
            log(f"warning: {srv.name} serves, but its stdout lacks the line matching /{banner_re}/")


def stop_server(srv):
    if not srv.alive():
        raise HarnessError(f"{srv.name} died during the measurement (exit {srv.proc.returncode}); "
                           f"log {srv.log_path}:\n{srv.log_tail()}")
    graceful = stop(srv.proc, 5.0)
    if not graceful:
        log(f"warning: {srv.name} did not exit within 5 s of SIGTERM; killed")
    return graceful


# --------------------------------------------------------------------------- wrk

_RESULT_RE = re.compile(r"(\w+)=([-\d.]+)")


def run_wrk(url, conns, dur_s, cpu, lua, timeout_s=10):
    """wrk -t1 pinned to `cpu`; returns the dict printed by stats.lua plus wrk_cpu_frac."""
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{dur_s}s", "--timeout", f"{timeout_s}s", "-s", lua, url]
    if cpu is not None:
        argv = ["taskset", "-c", str(cpu)] + argv
    c0, w0 = children_cpu_s(), time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, start_new_session=True)
    _procs.append(p)
    _write_pidfile()
    try:
        out, _ = p.communicate(timeout=dur_s + timeout_s + 30)
    except subprocess.TimeoutExpired:
        stop(p, 1.0)
        raise HarnessError(f"wrk did not finish: {' '.join(argv)}")
    finally:
        if p in _procs:
            _procs.remove(p)
            _write_pidfile()
    wall = time.monotonic() - w0
    wrk_cpu = children_cpu_s() - c0
    text = out.decode(errors="replace")
    line = next((l for l in text.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        raise HarnessError(f"wrk printed no RESULT line ({' '.join(argv)}):\n{text[-2000:]}")
    res = {k: float(v) for k, v in _RESULT_RE.findall(line)}
    res["wrk_cpu_frac"] = wrk_cpu / wall if wall > 0 else 0.0
    return res


# --------------------------------------------------------------------------- statistics

def mmm(xs):
    """{median, min, max, n} of a list of numbers (None if empty)."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def spread_frac(m):
    """(max-min)/median, the noise flag of the harness (> 0.15 is flagged)."""
    if not m or not m["median"]:
        return 0.0
    return (m["max"] - m["min"]) / abs(m["median"])


def fmt_num(x, unit=""):
    if x is None:
        return "-"
    ax = abs(x)
    if unit == "ratio":
        return f"{x:.3f}"
    if ax >= 1e6:
        return f"{x / 1e6:.3g}M"
    if ax >= 1e4:
        return f"{x / 1e3:.3g}k"
    if ax >= 100:
        return f"{x:.0f}"
    if ax >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def fmt_mmm(m, unit="", flag=True):
    if not m:
        return "-"
    s = f"{fmt_num(m['median'], unit)} [{fmt_num(m['min'], unit)}..{fmt_num(m['max'], unit)}]"
    if flag and m["n"] > 1 and spread_frac(m) > 0.15:
        s += " !"
    return s


def md_table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)
