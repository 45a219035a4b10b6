"""The real `sandstorm run` for fault and load tests: start it (optionally under a wrapper
such as prlimit, strace or unshare), set up the admin, install an spk, create and open grains,
and talk to the shell and grain ports. Python stdlib only; every wait is bounded."""
import json
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import time

SKIP = 77  # ctest SKIP_RETURN_CODE: the reason is printed first


def skip(why):
    print("SKIP:", why, flush=True)
    raise SystemExit(SKIP)


def free_port_range(count):
    """A run of `count` free ports below the ephemeral range (tests run in parallel)."""
    import random
    for _ in range(200):
        base = random.randrange(20000, 32000 - count)
        socks = []
        try:
            for p in range(base, base + count):
                s = socket.socket()
                s.bind(("127.0.0.1", p))
                socks.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


class Response:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name):
        return self.headers.get(name.lower(), "")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


def http(port, method, path, body=b"", headers=None, timeout=30):
    """One request on its own connection (Connection: close); the whole response."""
    if isinstance(body, str):
        body = body.encode()
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    for k, v in (headers or {}).items():
        head += f"{k}: {v}\r\n"
    if method not in ("GET", "HEAD") or body:
        head += f"Content-Length: {len(body)}\r\n"
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(head.encode() + b"\r\n" + body)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1]) if lines and lines[0] else 0
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        out, buf = b"", rest
        while buf:
            size_line, _, buf = buf.partition(b"\r\n")
            n = int(size_line.split(b";")[0] or b"0", 16)
            if n == 0:
                break
            out, buf = out + buf[:n], buf[n + 2:]
        rest = out
    return Response(status, hdrs, rest.decode("utf-8", "replace"))


class Daemon:
    def __init__(self, binary, data_dir=None, wrapper=(), extra=(), grain_ports=8, env=None):
        self.tmp = tempfile.TemporaryDirectory(prefix="ss-fault-")
        os.chmod(self.tmp.name, 0o755)  # grains run as their own uid: they traverse to packages/
        self.data_dir = data_dir or os.path.join(self.tmp.name, "data")
        self.first_grain_port = free_port_range(grain_ports)
        ports = f"{self.first_grain_port}-{self.first_grain_port + grain_ports - 1}"
        self.log_path = os.path.join(self.tmp.name, "daemon.log")
        self.log = open(self.log_path, "wb")
        args = [*wrapper, binary, "run", "--port", "0", "--data-dir", self.data_dir,
                "--grain-ports", ports, "--demo-apps", os.path.join(self.tmp.name, "none"),
                *extra]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log,
                                     start_new_session=True, env=env)
        out, deadline = b"", time.monotonic() + 20
        while b"#/setup/" not in out or not out.endswith(b"\n"):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"daemon did not start: {out!r}\n{self.daemon_log()}")
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
        text = out.decode()
        if "Sandstorm is running at" not in text:
            raise RuntimeError(f"unexpected start output of {args}: {text!r}\n{self.daemon_log()}")
        self.port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", text).group(1))
        self.setup_token = re.search(r"#/setup/(\S+)", text).group(1)
        self.cookie = ""
        self.csrf = ""
        self.pid = self.server_pid()

    def server_pid(self):
        """The daemon itself, also when started under a wrapper (strace, unshare)."""
        pid = self.proc.pid
        for _ in range(5):
            try:
                exe = os.readlink(f"/proc/{pid}/exe")
            except OSError:
                return pid
            if os.path.basename(exe) == "sandstorm":
                return pid
            kids = open(f"/proc/{pid}/task/{pid}/children").read().split()
            if not kids:
                return pid
            pid = int(kids[0])
        return pid

    def daemon_log(self):
        self.log.flush()
        return open(self.log_path, "rb").read()[-4000:].decode("utf-8", "replace")

    def api(self, method, path, body=None, raw=None, type="application/json", timeout=60):
        headers = {}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if self.csrf:
            headers["X-CSRF-Token"] = self.csrf
        data = raw if raw is not None else (json.dumps(body) if body is not None else b"")
        if method != "GET":
            headers["Content-Type"] = type
        return http(self.port, method, path, data, headers, timeout=timeout)

    def setup_admin(self):
        r = self.api("POST", "/api/setup", {"token": self.setup_token, "name": "admin",
                                             "password": "correct horse battery"})
        assert r.status == 200, r
        self.cookie = r.header("Set-Cookie").split(";")[0]
        self.csrf = self.api("GET", "/api/session").json()["csrf"]

    def install(self, spk_path):
        r = self.api("POST", "/api/apps", raw=open(spk_path, "rb").read(),
                     type="application/octet-stream")
        assert r.status == 200, r
        return r.json()["app"]["appId"]

    def new_grain(self, app_id, title="g"):
        r = self.api("POST", "/api/grains", {"appId": app_id, "actionIndex": 0, "title": title})
        assert r.status == 201, r
        return r.json()["grain"]["id"]

    def open_grain(self, grain_id):
        """(port, cookie) for requests on the grain's origin."""
        r = self.api("POST", f"/api/grains/{grain_id}/open", {})
        assert r.status == 200, r
        url = r.json()["url"]
        m = re.match(r"http://127\.0\.0\.1:(\d+)(/.*)", url)
        port = int(m.group(1))
        start = http(port, "GET", m.group(2))
        assert start.status == 303, start
        return port, start.header("Set-Cookie").split(";")[0]

    def healthy(self, timeout=5):
        r = http(self.port, "GET", "/api/session", timeout=timeout)
        return r.status == 200

    def fd_count(self):
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def rss_kib(self):
        for line in open(f"/proc/{self.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def cpu_seconds(self):
        fields = open(f"/proc/{self.pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()
        self.tmp.cleanup()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if exc[0] is not None:
            print("--- daemon log tail ---\n" + self.daemon_log(), flush=True)
        self.stop()


def grain_get(port, cookie, path, timeout=30):
    return http(port, "GET", path, headers={"Cookie": cookie}, timeout=timeout)
