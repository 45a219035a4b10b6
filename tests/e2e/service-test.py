#!/usr/bin/env python3
"""The service verbs against the real binary (issue #9):

  verbs   start/status/stop/restart exit codes, pidfile + log, a start that fails (port taken)
          exits 1 with the server's error, sandstorm.conf errors name file:line, usage errors
          exit 2, --config with options overriding it.
  notify  `sandstorm run` under a NOTIFY_SOCKET (path and abstract '@'): READY=1 arrives when
          the port already accepts connections, WATCHDOG=1 repeats, STOPPING=1 on SIGTERM.

usage: service-test.py verbs|notify <sandstorm binary>. Every wait is bounded; everything it
starts is stopped and its files removed, also on failure."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CASE, BINARY = sys.argv[1], os.path.abspath(sys.argv[2])
WORK = tempfile.mkdtemp(prefix="service-test-")
DATA = os.path.join(WORK, "data")
children = []  # `run` processes we spawned: killed at the end, whatever happens


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def sandstorm(*args, timeout=60):
    r = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout)
    print(f"$ sandstorm {' '.join(args)}  -> {r.returncode}\n{r.stdout}{r.stderr}", end="")
    return r


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok - {what}")


def running_pid():
    try:
        with open(os.path.join(DATA, "run", "sandstorm.pid")) as f:
            return int(f.read().strip() or 0)
    except FileNotFoundError:
        return 0


def http_get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read()


def verbs():
    base = ["--data-dir", DATA, "--demo-apps", os.path.join(WORK, "none")]
    r = sandstorm("status", "--data-dir", DATA)
    check(r.returncode == 3 and "not running" in r.stdout, "status before start: exit 3")
    r = sandstorm("stop", "--data-dir", DATA)
    check(r.returncode == 0 and "not running" in r.stdout, "stop when not running: exit 0")

    port = free_port()
    r = sandstorm("start", "--port", str(port), *base)
    check(r.returncode == 0, "start: exit 0")
    check(f"Sandstorm is running at http://127.0.0.1:{port}/" in r.stdout, "start prints the URL")
    check("#/setup/" in r.stdout, "first start prints the setup link")
    status, body = http_get(f"http://127.0.0.1:{port}/")
    check(status == 200 and b"<html" in body.lower(), "the shell answers right after start")
    pid = running_pid()
    r = sandstorm("status", "--data-dir", DATA)
    check(r.returncode == 0 and f"pid {pid}" in r.stdout and f":{port}/" in r.stdout,
          "status: exit 0 with pid and URL")
    r = sandstorm("start", "--port", str(port), *base)
    check(r.returncode == 0 and "already running" in r.stdout, "start again: already running, 0")
    log = os.path.join(DATA, "log", "sandstorm.log")
    check("server: started" in open(log).read(), "the server logs to <data>/log/sandstorm.log")
    check(os.stat(DATA).st_mode & 0o777 == 0o711, "data directory is 0711 (grains traverse it)")

    r = sandstorm("restart", "--port", str(port), *base)
    check(r.returncode == 0 and "Sandstorm stopped" in r.stdout and "running at" in r.stdout,
          "restart: stops and starts, exit 0")
    check(running_pid() != pid, "restart: a new pid")
    check("#/setup/" in r.stdout, "still no admin: the setup link again")

    r = sandstorm("stop", "--data-dir", DATA)
    check(r.returncode == 0 and "Sandstorm stopped" in r.stdout, "stop: exit 0")
    r = sandstorm("status", "--data-dir", DATA)
    check(r.returncode == 3, "status after stop: exit 3 (the pidfile left behind is stale)")

    # A start that cannot bind: exit 1 with the server's own error, nothing left running.
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    r = sandstorm("start", "--port", str(taken), *base)
    check(r.returncode == 1 and "Address already in use" in r.stderr and str(taken) in r.stderr,
          "start on a taken port: exit 1 naming the problem")
    blocker.close()
    check(sandstorm("status", "--data-dir", DATA).returncode == 3, "nothing left running")

    # sandstorm.conf: errors name the line; options override the file.
    conf = os.path.join(WORK, "sandstorm.conf")
    with open(conf, "w") as f:
        f.write(f"# test\nDATA_DIR={DATA}\nPORT=70000\n")
    r = sandstorm("start", "--config", conf)
    check(r.returncode == 1 and f"{conf}:3: PORT=70000: must be a port number" in r.stderr,
          "bad PORT in the file: exit 1 with file:line")
    with open(conf, "w") as f:
        f.write(f"DATA_DIR={DATA}\nPORT={taken}\nMONGO_PORT=6081\nWILDCARD_HOST=example.com\n")
    r = sandstorm("status", "--config", conf)
    check(r.returncode == 1 and f"{conf}:4: WILDCARD_HOST=example.com: must contain exactly one"
          in r.stderr, "WILDCARD_HOST without '*': file:line")
    with open(conf, "w") as f:
        f.write(f"DATA_DIR={DATA}\nPORT={taken}\nMONGO_PORT=6081\nINSTALL_DEMO_APPS=no\n")
    port = free_port()
    r = sandstorm("start", "--config", conf, "--port", str(port))
    check(r.returncode == 0 and f":{port}/" in r.stdout, "--port overrides PORT from --config")
    check(f"{conf}:3: MONGO_PORT is ignored" in r.stderr, "old keys: a warning naming the line")
    check(sandstorm("status", "--config", conf).returncode == 0, "status finds it via --config")
    check(sandstorm("stop", "--config", conf).returncode == 0, "stop via --config")

    # Usage errors exit 2; --help exits 0 for every verb.
    check(sandstorm("start", "--bogus").returncode == 2, "unknown option: exit 2")
    check(sandstorm("status", "--port", "1").returncode == 2, "status has no --port: exit 2")
    check(sandstorm("run", "--port", "x").returncode == 2, "bad option value: exit 2")
    check(sandstorm("frobnicate").returncode == 2, "unknown command: exit 2")
    for verb in ["run", "start", "stop", "status", "restart", "admin-token", "dev", "spk"]:
        check(sandstorm(verb, "--help").returncode == 0, f"{verb} --help: exit 0")


def notify():
    for abstract in [False, True]:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = f"@sandstorm-notify-test-{os.getpid()}"
            sock.bind("\0" + name[1:])
        else:
            name = os.path.join(WORK, "notify.sock")
            sock.bind(name)
        sock.settimeout(1)
        port = free_port()
        env = dict(os.environ, NOTIFY_SOCKET=name, WATCHDOG_USEC="400000")
        env.pop("WATCHDOG_PID", None)
        proc = subprocess.Popen([BINARY, "run", "--port", str(port), "--data-dir", DATA,
                                 "--demo-apps", os.path.join(WORK, "none")],
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        children.append(proc)
        messages = []
        deadline = time.monotonic() + 60
        ready_and_listening = None
        while time.monotonic() < deadline and ready_and_listening is None:
            try:
                msg = sock.recv(4096).decode()
            except socket.timeout:
                check(proc.poll() is None, "run is still running while we wait for READY=1")
                continue
            messages.append(msg)
            if "READY=1" in msg.split("\n"):
                # The server said ready: the port must accept a connection now, not later.
                c = socket.create_connection(("127.0.0.1", port), timeout=2)
                c.close()
                ready_and_listening = True
        kind = "abstract" if abstract else "path"
        check(ready_and_listening, f"READY=1 over a {kind} socket, port accepting at that time")
        watchdogs = 0
        end = time.monotonic() + 3
        while time.monotonic() < end and watchdogs < 2:
            try:
                if sock.recv(4096).decode() == "WATCHDOG=1":
                    watchdogs += 1
            except socket.timeout:
                pass
        check(watchdogs >= 2, "WATCHDOG=1 repeats within WATCHDOG_USEC")
        proc.send_signal(signal.SIGTERM)
        stopping = False
        end = time.monotonic() + 15
        while time.monotonic() < end and not stopping:
            try:
                stopping = sock.recv(4096).decode() == "STOPPING=1"
            except socket.timeout:
                pass
        check(stopping, "STOPPING=1 on SIGTERM")
        check(proc.wait(timeout=30) == 0, "run exits 0 after SIGTERM")
        sock.close()


try:
    {"verbs": verbs, "notify": notify}[CASE]()
finally:
    for proc in children:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # A background server of ours, if a check failed while one ran.
    subprocess.run([BINARY, "stop", "--data-dir", DATA], capture_output=True, timeout=60)
    shutil.rmtree(WORK, ignore_errors=True)
