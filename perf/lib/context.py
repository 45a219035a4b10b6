"""The object every suite receives: run settings, work dir, ports, and server starters."""
import os
import re

from perflib import (PERF_DIR, LOOPBACK, HarnessError, Server, log, port_listening, spawn,
                     wait_ready)

BANNER = r"Sandstorm is running at http://127\.0\.0\.1:{port}/"


class Context:
    def __init__(self, *, mode, binary, out_dir, work_dir, srv_cpu, lg_cpu, port_base, nginx):
        self.mode = mode                  # "quick" | "full"
        self.quick = mode == "quick"
        self.binary = binary              # our server (S)
        self.out_dir = out_dir            # results/<ts>/ (kept)
        self.work_dir = work_dir          # /tmp/sandstorm-perf-* (deleted at the end)
        self.srv_cpu = srv_cpu            # servers are pinned here
        self.lg_cpu = lg_cpu              # load generators are pinned here
        self.nginx = nginx
        self.lua = os.path.join(PERF_DIR, "lua", "stats.lua")
        self._port_base = port_base
        self._ports = {}
        self._files = {}
        self.notes = []                   # warnings that end up in results.json and the report
        os.makedirs(os.path.join(out_dir, "logs"), exist_ok=True)

    def note(self, msg):
        log("note: " + msg)
        self.notes.append(msg)

    def env_int(self, name, default):
        v = os.environ.get(name)
        return int(v) if v not in (None, "") else default

    def env_float(self, name, default):
        v = os.environ.get(name)
        return float(v) if v not in (None, "") else default

    def port(self, key):
        """A fixed loopback port for `key` (PORT_BASE + n, outside the ephemeral range)."""
        if key not in self._ports:
            self._ports[key] = self._port_base + len(self._ports)
        return self._ports[key]

    def www_file(self, name, size):
        """A file of `size` random bytes in the shared document root; returns (root, bytes).
        The same file is served by S and N."""
        root = os.path.join(self.work_dir, "www")
        os.makedirs(root, mode=0o755, exist_ok=True)
        # Our server requires a UI with an index page (it refuses to start without one).
        index = os.path.join(root, "index.html")
        if not os.path.exists(index):
            with open(index, "w") as f:
                f.write("<!doctype html><title>perf</title>\n")
        path = os.path.join(root, name)
        if name not in self._files:
            data = os.urandom(size)
            with open(path, "wb") as f:
                f.write(data)
            os.chmod(path, 0o644)
            self._files[name] = data
        return root, self._files[name]

    def _check_port(self, port, who):
        if port_listening(port):
            raise HarnessError(f"port {port} (for {who}) is already in use; set PORT_BASE to move "
                               f"the harness ports")

    def _log_path(self, name):
        return os.path.join(self.out_dir, "logs", f"{name}.log")

    def start_sandstorm(self, name, port, ui_dir, check_path, expect_body, timeout=60):
        """S: `<binary> run --port P --listen 127.0.0.1 --data-dir D --ui-dir U`, pinned to srv_cpu."""
        self._check_port(port, name)
        data = os.path.join(self.work_dir, f"{name}-data")
        os.makedirs(data, exist_ok=True)
        argv = [self.binary, "run", "--port", port, "--listen", LOOPBACK,
                "--data-dir", data, "--ui-dir", ui_dir]
        lp = self._log_path(name)
        with open(lp, "ab") as f:
            f.write(("$ " + " ".join(map(str, argv)) + "\n").encode())
        p = spawn(argv, lp, cpu=self.srv_cpu)
        srv = Server(name, "S", port, p, lp)
        wait_ready(srv, check_path, expect_body, timeout, banner_re=BANNER.format(port=port))
        log(f"started {name} (S) pid {srv.pid} port {port} in {srv.start_s:.2f}s")
        return srv

    def start_nginx(self, name, port, root, check_path, expect_body, template="nginx-static.conf.in",
                    timeout=15, extra=None):
        """N: Debian nginx from perf/conf/<template>, 1 worker, pinned to srv_cpu, foreground."""
        self._check_port(port, name)
        prefix = os.path.join(self.work_dir, f"{name}-nginx")
        for d in ("conf", "logs", "tmp"):
            os.makedirs(os.path.join(prefix, d), exist_ok=True)
        with open(os.path.join(PERF_DIR, "conf", template)) as f:
            conf = f.read()
        conf = conf.replace("@PORT@", str(port)).replace("@ROOT@", root).replace("@LISTEN@", LOOPBACK)
        for key, value in (extra or {}).items():
            conf = conf.replace(f"@{key}@", str(value))
        left = re.findall(r"@[A-Z_]+@", conf)
        if left:
            raise HarnessError(f"unfilled placeholders {left} in perf/conf/{template}")
        cp = os.path.join(prefix, "conf", "nginx.conf")
        with open(cp, "w") as f:
            f.write(conf)
        lp = self._log_path(name)
        argv = [self.nginx, "-p", prefix, "-e", os.path.join(prefix, "logs", "error.log"), "-c", cp]
        p = spawn(argv, lp, cpu=self.srv_cpu)
        srv = Server(name, "N", port, p, lp)
        if check_path is not None:
            wait_ready(srv, check_path, expect_body, timeout)
        log(f"started {name} (N) pid {srv.pid} port {port}")
        return srv
