#!/usr/bin/env python3
"""Whole-server backup and restore against the real daemon (issue #9 part 6).

A server with an administrator and a notes grain holding a note is backed up with
`sandstorm backup` while it runs and the grain is running (the grain answers afterwards: it was
paused, not stopped); a note added after the backup must not come back. The server stops, the
backup is restored into a fresh data directory, a new server on it lets the administrator log
in and shows the note. Refusals: restore into a non-empty directory, a truncated archive and a
file that is no archive (each exits 1 and leaves nothing behind).

usage: backup-test.py <sandstorm binary> <notes.spk>"""
import glob
import os
import re
import select
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
from harness import Daemon, free_port_range, grain_get, http  # noqa: E402

BINARY, NOTES = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
PASSWORD = "correct horse battery"  # harness.setup_admin's


def sandstorm(*args, timeout=120):
    r = subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout)
    print(f"$ sandstorm {' '.join(args)} -> {r.returncode}\n{r.stdout}{r.stderr}", end="")
    return r


def add_note(port, cookie, text):
    r = http(port, "POST", "/add", "text=" + text.replace(" ", "+"),
             {"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 303, r


def open_grain(shell_port, cookie, csrf, grain):
    r = http(shell_port, "POST", f"/api/grains/{grain}/open", "{}",
             {"Cookie": cookie, "X-CSRF-Token": csrf, "Content-Type": "application/json"})
    assert r.status == 200, r
    m = re.match(r"http://127\.0\.0\.1:(\d+)(/.*)", r.json()["url"])
    start = http(int(m.group(1)), "GET", m.group(2))
    assert start.status == 303, start
    return int(m.group(1)), start.header("Set-Cookie").split(";")[0]


def serve_restored(data_dir, log_path):
    """`sandstorm run` on a data directory that already has an administrator (no setup link)."""
    first = free_port_range(4)
    proc = subprocess.Popen([BINARY, "run", "--port", "0", "--data-dir", data_dir,
                             "--grain-ports", f"{first}-{first + 3}"],
                            stdout=subprocess.PIPE, stderr=open(log_path, "wb"),
                            start_new_session=True)
    out, deadline = b"", time.monotonic() + 20
    while b"Sandstorm is running at" not in out or not out.endswith(b"\n"):
        assert time.monotonic() < deadline and proc.poll() is None, \
            (out, open(log_path).read())
        r, _, _ = select.select([proc.stdout], [], [], 0.2)
        if r:
            out += os.read(proc.stdout.fileno(), 4096)
    assert b"#/setup/" not in out, out  # the administrator came back with the store
    return proc, int(re.search(rb"http://127\.0\.0\.1:(\d+)/", out).group(1))


def main():
    work = tempfile.mkdtemp(prefix="ss-backup-test-")
    os.chmod(work, 0o755)  # grains run as their own uid and traverse to their data
    archive = os.path.join(work, "server.tar.zst")
    restored = os.path.join(work, "restored")
    with Daemon(BINARY) as d:
        d.setup_admin()
        app = d.install(NOTES)
        grain = d.new_grain(app, "kept")
        port, cookie = d.open_grain(grain)
        add_note(port, cookie, "written before the backup")

        r = sandstorm("backup", archive, "--data-dir", d.data_dir)
        assert r.returncode == 0, r
        assert "paused" in r.stderr, "the running grain was not paused for its copy"
        assert not glob.glob(os.path.join(work, ".sandstorm-backup-*")), "staging left behind"
        assert not os.path.exists(archive + ".partial")
        # Continued, not stopped: the same run answers.
        add_note(port, cookie, "written after the backup")
        assert "written after the backup" in grain_get(port, cookie, "/").body
        # Restoring needs a directory no server runs on, and an empty one.
        r = sandstorm("restore", archive, "--data-dir", d.data_dir)
        assert r.returncode == 1 and "running" in r.stderr, r

    r = sandstorm("restore", archive, "--data-dir", restored)
    assert r.returncode == 0, r
    r = sandstorm("restore", archive, "--data-dir", restored)
    assert r.returncode == 1 and "not empty" in r.stderr, r

    proc, shell = serve_restored(restored, os.path.join(work, "restored.log"))
    try:
        r = http(shell, "POST", "/api/login", '{"name":"admin","password":"%s"}' % PASSWORD,
                 {"Content-Type": "application/json"})
        assert r.status == 200, r
        cookie = r.header("Set-Cookie").split(";")[0]
        csrf = http(shell, "GET", "/api/session", headers={"Cookie": cookie}).json()["csrf"]
        gport, gcookie = open_grain(shell, cookie, csrf, grain)
        page = grain_get(gport, gcookie, "/", timeout=60).body
        assert "written before the backup" in page, page
        assert "written after the backup" not in page, page
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(20)

    # Damaged archives: refused, and nothing is left behind.
    data = open(archive, "rb").read()
    for name, content in (("truncated", data[:len(data) // 2]), ("garbage", b"not a backup\n")):
        bad = os.path.join(work, name + ".tar.zst")
        open(bad, "wb").write(content)
        target = os.path.join(work, "from-" + name)
        r = sandstorm("restore", bad, "--data-dir", target)
        assert r.returncode == 1 and "nothing was restored" in r.stderr, r
        assert not os.path.exists(target), target
        assert not glob.glob(os.path.join(work, ".sandstorm-restore-*")), "temp dir left behind"
    subprocess.run(["rm", "-rf", work], check=True)
    print("PASS")


main()
