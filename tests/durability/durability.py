#!/usr/bin/env python3
"""Crash durability of the real daemon under SIGKILL (issue #10 part 2).

A mixed workload runs against `sandstorm run` on one data directory: account changes (invites,
signups, logins, logouts), app installs, upgrades and uninstalls, grain creation, renames,
trash/restore/delete, notes written through the grain's origin, grain backup and restore,
sharing links created and revoked. A timer SIGKILLs the daemon at a random moment. Then:
  (b) the store, copied as the kill left it, passes PRAGMA integrity_check and
      foreign_key_check;
  (d) the daemon restarts on the same directory and serves /api/health within a bound;
  (a) every change the server acknowledged (a 2xx/303 response fully received) is there;
      a change whose answer was lost may be either way, but nothing in between;
  (c) nothing half-done is left: no unpack or upload leftovers, no grain directory without
      its row, no row without its package directory (with its manifest), at most one bridge
      per grain.
Some cycles kill a grain process (the app or the bridge) instead; the next request to that
grain must work.

The random delays and choices come from one seed, printed at the start and with every
failure: `--seed S --kills N` replays the same plan (the kill lands on the same wall-clock
delay; what it interrupts may differ slightly from run to run).

usage: durability.py <sandstorm> <apps dir: notes.spk, static-site.spk>
                     <grain-test.spk> <grain-test-v2.spk> [--kills N] [--seed S] [--keep]
                     [--keep-going] [--verbose]"""
import argparse
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fault"))
from harness import free_port_range, http  # noqa: E402

# Bounds, all generous: the test must never fail on timing, only on loss or corruption.
START_BOUND_S = 60          # restart until /api/health answers
KILL_DELAY_S = (0.0, 1.5)   # the daemon's random lifetime in a cycle
GRAIN_KILL_SHARE = 0.25     # cycles that kill a grain process instead of the daemon
CYCLES_PER_DATA_DIR = 40    # a fresh data directory now and then keeps the checks short
GRAIN_PORTS = 48            # each open grain session holds one; sessions are closed after use
PASSWORD = "correct horse battery"


class Loss(Exception):
    """An acknowledged change is missing, or the store or files are damaged."""


def check(ok, what):
    if not ok:
        raise Loss(what)


class Server:
    """`sandstorm run` on a data directory that may already hold a whole history."""

    def __init__(self, binary, data_dir, grain_ports, log_path):
        self.binary, self.data_dir = binary, data_dir
        self.log = open(log_path, "ab")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            [binary, "run", "--port", "0", "--data-dir", data_dir,
             "--grain-ports", grain_ports, "--demo-apps", os.path.join(data_dir, "no-demo-apps")],
            stdout=subprocess.PIPE, stderr=self.log, start_new_session=True)
        out, deadline = b"", started + START_BOUND_S
        while b"Sandstorm is running at" not in out or not out.endswith(b"\n"):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.proc.kill()
                raise Loss(f"the daemon did not start within {START_BOUND_S} s "
                           f"(exit {self.proc.poll()}): {out!r}\n{self.log_tail()}")
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    continue
                out += chunk
        text = out.decode()
        self.port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", text).group(1))
        m = re.search(r"#/setup/(\S+)", text)
        self.setup_token = m.group(1) if m else None
        while True:
            try:
                if http(self.port, "GET", "/api/health", timeout=5).status == 200:
                    break
            except OSError:
                pass
            check(time.monotonic() < deadline, f"/api/health not 200 within {START_BOUND_S} s")
            time.sleep(0.05)
        self.start_seconds = time.monotonic() - started

    def log_tail(self):
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read()[-3000:].decode("utf-8", "replace")

    def kill(self):
        try:
            os.kill(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def wait_dead(self):
        self.proc.wait(30)
        self.proc.stdout.close()
        self.log.close()
        # Grains die with it (PR_SET_PDEATHSIG); wait until none of its session is left, so the
        # next run finds its grain ports free.
        deadline = time.monotonic() + 30
        while session_members(self.proc.pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        check(not session_members(self.proc.pid), "grain processes outlived the killed daemon")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


def session_members(sid):
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                fields = open(f"/proc/{name}/stat").read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == sid and fields[0] != "Z":
                out.append(int(name))
    return out


class Killed(Exception):
    """The request died with the daemon: its effect is unknown."""


class Client:
    """JSON API calls as one user (cookie + CSRF token)."""

    def __init__(self, run, cookie=""):
        self.run, self.cookie, self.csrf = run, cookie, ""
        if cookie:
            self.csrf = self.get("/api/session").json()["csrf"] or ""

    def call(self, method, path, body=None, raw=None, type="application/json", port=None,
             headers=None):
        h = dict(headers or {})
        if self.cookie and port is None:
            h["Cookie"] = self.cookie
        if self.csrf and port is None:
            h["X-CSRF-Token"] = self.csrf
        data = raw if raw is not None else (json.dumps(body) if body is not None else b"")
        if method != "GET":
            h.setdefault("Content-Type", type)
        try:
            r = http(port or self.run.server.port, method, path, data, h, timeout=60)
        except OSError as e:
            if self.run.killed.is_set():
                raise Killed() from e
            raise
        if r.status == 0 and self.run.killed.is_set():
            raise Killed()
        return r

    def get(self, path):
        return self.call("GET", path)

    def acked(self, r, *ok):
        """The response, when it is a complete acknowledgement; Killed when it was cut off."""
        if r.status in ok:
            if r.header("content-type").startswith("application/json"):
                try:
                    r.json()
                except ValueError:
                    if self.run.killed.is_set():
                        raise Killed()
                    raise
            return r
        if self.run.killed.is_set():
            raise Killed()
        raise AssertionError(f"unexpected answer while the daemon lived: {r}")


class Model:
    """What the server acknowledged. A set of allowed values stands for a change whose answer was
    lost: any of them may be there after the restart, then the set shrinks to the one seen."""

    def __init__(self):
        self.users = {}          # name -> {"maybe": bool}
        self.sessions = []       # [cookie, name, {True, False}: still valid?]
        self.invites = {}        # token -> {"used": {False} | {False, True}}
        self.apps = {}           # appId -> {"versions": {…}, "present": {…}}
        self.grains = {}         # id -> {"titles", "trashed", "exists", "notes", "maybe_notes"}
        self.shares = {}         # token -> {"id", "grain", "revoked": {…}}
        self.touched = set()     # grains whose notes changed since the last check


class Run:
    def __init__(self, args):
        self.args = args
        self.rng = random.Random(args.seed)
        self.killed = threading.Event()
        self.tmp = tempfile.mkdtemp(prefix="ss-durability-")
        os.chmod(self.tmp, 0o755)  # grains run as their own uid and traverse to their data
        first = free_port_range(GRAIN_PORTS)
        self.grain_ports = f"{first}-{first + GRAIN_PORTS - 1}"
        self.stats = {"kills": 0, "grain_kills": 0, "acked": 0, "unknown": 0,
                      "max_start": 0.0, "data_dirs": 0, "notes": 0}
        self.server = None
        self.serial = 0
        self.open_sessions = []

    def spk(self, name):
        return self.args.spks[name]

    # ---- the data directory's life ----

    def fresh_data_dir(self):
        self.stats["data_dirs"] += 1
        self.data_dir = os.path.join(self.tmp, f"data{self.stats['data_dirs']}")
        self.log_path = os.path.join(self.tmp, f"daemon{self.stats['data_dirs']}.log")
        self.model = Model()
        self.killed.clear()
        self.server = Server(self.args.binary, self.data_dir, self.grain_ports, self.log_path)
        c = Client(self)
        r = c.call("POST", "/api/setup", {"token": self.server.setup_token, "name": "admin",
                                          "password": PASSWORD})
        check(r.status == 200, f"setup: {r}")
        self.admin = Client(self, r.header("Set-Cookie").split(";")[0])
        self.model.users["admin"] = {"maybe": False}
        r = self.admin.call("POST", "/api/apps", raw=open(self.spk("notes"), "rb").read(),
                            type="application/octet-stream")
        check(r.status == 200, f"installing notes: {r}")
        self.notes_app = r.json()["app"]["appId"]
        self.model.apps[self.notes_app] = {"versions": {1}, "present": {True}, "name": "notes"}

    def restart(self):
        self.server.wait_dead()
        self.check_store_copy()
        self.killed.clear()
        self.open_sessions = []  # they ended with the daemon
        self.server = Server(self.args.binary, self.data_dir, self.grain_ports, self.log_path)
        self.stats["max_start"] = max(self.stats["max_start"], self.server.start_seconds)

    # ---- the workload: one operation after another until the daemon dies ----

    def text(self, what):
        self.serial += 1
        return f"{what}-{self.stats['kills']}-{self.serial}-{self.rng.randrange(10**6)}"

    def live_grains(self):
        return sorted(g for g, s in self.model.grains.items()
                      if s["exists"] == {True} and s["trashed"] == {False})

    def op_signup(self):
        m = self.model
        r = self.admin.acked(self.admin.call("POST", "/api/invites"), 201)
        token = r.json()["token"]
        m.invites[token] = {"used": {False}}
        name = self.text("user").replace("-", "_")
        m.users[name] = {"maybe": True}
        m.invites[token]["used"] = {False, True}
        anon = Client(self)
        r = anon.acked(anon.call("POST", "/api/signup",
                                 {"invite": token, "name": name, "password": PASSWORD}), 200)
        m.users[name]["maybe"] = False
        m.invites[token]["used"] = {True}
        m.sessions.append([r.header("Set-Cookie").split(";")[0], name, {True}])

    def op_login_logout(self):
        m = self.model
        name = self.rng.choice(sorted(n for n, u in m.users.items() if not u["maybe"]))
        anon = Client(self)
        r = anon.acked(anon.call("POST", "/api/login", {"name": name, "password": PASSWORD}), 200)
        session = [r.header("Set-Cookie").split(";")[0], name, {True}]
        m.sessions.append(session)
        if self.rng.random() < 0.5:
            user = Client(self, session[0])
            session[2] = {True, False}
            user.acked(user.call("POST", "/api/logout"), 204)
            session[2] = {False}

    def op_invite(self):
        r = self.admin.acked(self.admin.call("POST", "/api/invites"), 201)
        self.model.invites[r.json()["token"]] = {"used": {False}}

    def upload(self, name):
        return self.admin.call("POST", "/api/apps", raw=open(self.spk(name), "rb").read(),
                               type="application/octet-stream")

    def app_by_name(self, name):
        for app_id, a in self.model.apps.items():
            if a["name"] == name:
                return app_id, a
        return None, None

    def op_static_site(self):
        """Install, or uninstall (it never has grains): packages come and go."""
        app_id, a = self.app_by_name("static")
        if a is None or a["present"] == {False}:
            if a is not None:
                a["present"] = {False, True}
            r = self.admin.acked(self.upload("static"), 200)
            app_id = r.json()["app"]["appId"]
            self.model.apps[app_id] = {"versions": {1}, "present": {True}, "name": "static"}
        else:
            a["present"] = {True, False}
            self.admin.acked(self.admin.call("DELETE", f"/api/apps/{app_id}"), 204)
            a["present"] = {False}

    def op_grain_test(self):
        """v1 installed, then v2 uploaded (pending) and confirmed, then uninstalled: upgrades."""
        app_id, a = self.app_by_name("grain-test")
        if a is None or a["present"] == {False}:
            if a is not None:
                a["present"] = {False, True}
                a["versions"] = {1}
            r = self.admin.acked(self.upload("grain-test"), 200)
            app_id = r.json()["app"]["appId"]
            self.model.apps[app_id] = {"versions": {1}, "present": {True}, "name": "grain-test"}
        elif a["versions"] == {1}:
            r = self.admin.acked(self.upload("grain-test-v2"), 200)
            check(r.json()["result"] == "upgrade-pending", f"v2 upload: {r}")
            pending = r.json()["app"]["pendingUpgrade"]["packageId"]
            a["versions"] = {1, 2}
            self.admin.acked(self.admin.call("POST", f"/api/apps/{app_id}/upgrade",
                                             {"packageId": pending}), 200)
            a["versions"] = {2}
        else:
            a["present"] = {True, False}
            self.admin.acked(self.admin.call("DELETE", f"/api/apps/{app_id}"), 204)
            a["present"] = {False}

    def op_new_grain(self):
        title = self.text("grain")
        r = self.admin.acked(self.admin.call("POST", "/api/grains", {
            "appId": self.notes_app, "actionIndex": 0, "title": title}), 201)
        self.model.grains[r.json()["grain"]["id"]] = {
            "titles": {title}, "trashed": {False}, "exists": {True}, "notes": set(),
            "maybe_notes": set()}

    def op_rename(self):
        live = self.live_grains()
        if not live:
            return self.op_new_grain()
        g = self.model.grains[self.rng.choice(live)]
        gid = [k for k, v in self.model.grains.items() if v is g][0]
        title = self.text("renamed")
        g["titles"] = g["titles"] | {title}
        self.admin.acked(self.admin.call("PATCH", f"/api/grains/{gid}", {"title": title}), 200)
        g["titles"] = {title}

    def op_trash(self):
        grains = [g for g, s in self.model.grains.items() if s["exists"] == {True}
                  and len(s["trashed"]) == 1]
        if not grains:
            return self.op_new_grain()
        gid = self.rng.choice(sorted(grains))
        g = self.model.grains[gid]
        if g["trashed"] == {False}:
            g["trashed"] = {False, True}
            self.admin.acked(self.admin.call("POST", f"/api/grains/{gid}/trash", {}), 200)
            g["trashed"] = {True}
        elif self.rng.random() < 0.5:
            g["trashed"] = {False, True}
            self.admin.acked(self.admin.call("POST", f"/api/grains/{gid}/restore", {}), 200)
            g["trashed"] = {False}
        else:
            g["exists"] = {True, False}
            self.admin.acked(self.admin.call("DELETE", f"/api/grains/{gid}"), 204)
            g["exists"] = {False}

    def open_grain(self, gid, client=None):
        client = client or self.admin
        r = client.acked(client.call("POST", f"/api/grains/{gid}/open", {}), 200)
        m = re.match(r"http://127\.0\.0\.1:(\d+)(/.*)", r.json()["url"])
        port = int(m.group(1))
        start = client.acked(client.call("GET", m.group(2), port=port), 303)
        self.open_sessions.append((client, r.json()["sessionId"]))
        return port, start.header("Set-Cookie").split(";")[0]

    def close_sessions(self):
        """As the UI does when the person leaves a grain: its port is free for others."""
        for client, sid in self.open_sessions:
            client.acked(client.call("DELETE", f"/api/grain-sessions/{sid}"), 204)
        self.open_sessions = []

    def op_notes(self):
        live = self.live_grains()
        if not live:
            return self.op_new_grain()
        gid = self.rng.choice(live)
        g = self.model.grains[gid]
        port, cookie = self.open_grain(gid)
        for _ in range(self.rng.randrange(1, 4)):
            note = self.text("note")
            g["maybe_notes"].add(note)
            self.model.touched.add(gid)
            self.admin.acked(self.admin.call(
                "POST", "/add", raw=("text=" + note).encode(), port=port,
                headers={"Cookie": cookie, "Content-Type": "application/x-www-form-urlencoded"}),
                303)
            g["maybe_notes"].discard(note)
            g["notes"].add(note)
            self.stats["notes"] += 1

    def op_backup_restore(self):
        live = [g for g in self.live_grains() if self.model.grains[g]["notes"]]
        if not live:
            return self.op_notes()
        gid = self.rng.choice(live)
        notes = set(self.model.grains[gid]["notes"])  # acknowledged before the download began
        raw = self.download(f"/api/grains/{gid}/backup")
        r = self.admin.acked(self.admin.call("POST", "/api/grains/restore", raw=raw,
                                             type="application/octet-stream"), 201)
        grain = r.json()["grain"]
        self.model.grains[grain["id"]] = {
            "titles": {grain["title"]}, "trashed": {False}, "exists": {True}, "notes": notes,
            "maybe_notes": set()}
        self.model.touched.add(grain["id"])

    def download(self, path):
        """A binary body (harness.http decodes text), Content-Length checked."""
        try:
            s = socket.create_connection(("127.0.0.1", self.server.port), timeout=60)
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                      f"Cookie: {self.admin.cookie}\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            s.close()
        except OSError as e:
            if self.killed.is_set():
                raise Killed() from e
            raise
        head, _, body = data.partition(b"\r\n\r\n")
        complete = False
        if re.search(rb"(?i)\r\ntransfer-encoding: *chunked", head):
            out, rest = b"", body
            while rest:
                size, _, rest = rest.partition(b"\r\n")
                n = int(size.split(b";")[0] or b"0", 16)
                if n == 0:
                    complete = True
                    break
                out, rest = out + rest[:n], rest[n + 2:]
            body = out
        else:
            m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            # Without a length the body ends with the connection: a cut-off archive is then
            # refused by the restore (and the daemon's death is known by then).
            complete = int(m.group(1)) == len(body) if m else True
        if not head.startswith(b"HTTP/1.1 200") or not complete:
            if self.killed.is_set():
                raise Killed()
            raise AssertionError(f"backup download: {head[:200]!r}, {len(body)} bytes")
        return body

    def op_share(self):
        live = self.live_grains()
        # Keyed by token: ids are reused once a deleted grain's links go with it.
        open_links = [t for t, v in self.model.shares.items() if v["revoked"] == {False}
                      and self.model.grains.get(v["grain"], {}).get("exists") == {True}]
        if open_links and self.rng.random() < 0.5:
            s = self.model.shares[self.rng.choice(sorted(open_links))]
            s["revoked"] = {False, True}
            self.admin.acked(self.admin.call("DELETE", f"/api/shares/{s['id']}"), 204)
            s["revoked"] = {True}
        elif live:
            gid = self.rng.choice(live)
            r = self.admin.acked(self.admin.call("POST", f"/api/grains/{gid}/shares", {
                "role": 1, "label": self.text("link"), "anonymous": True}), 201)
            self.model.shares[r.json()["token"]] = {"id": r.json()["id"], "grain": gid,
                                                    "revoked": {False}}

    OPS = [("signup", 2), ("login_logout", 2), ("invite", 1), ("static_site", 1),
           ("grain_test", 1), ("new_grain", 3), ("rename", 2), ("trash", 2), ("notes", 6),
           ("backup_restore", 1), ("share", 2)]

    def workload(self, until):
        names = [n for n, w in self.OPS for _ in range(w)]
        while time.monotonic() < until and not self.killed.is_set():
            name = self.rng.choice(names)
            try:
                getattr(self, "op_" + name)()
                self.close_sessions()
                self.stats["acked"] += 1
            except Killed:
                self.stats["unknown"] += 1
                return name
        return None

    # ---- the checks after a restart ----

    def check_store_copy(self):
        """integrity_check on a copy of the store exactly as the kill left it (the WAL too)."""
        copy = os.path.join(self.tmp, "store-copy")
        shutil.rmtree(copy, ignore_errors=True)
        os.mkdir(copy)
        for suffix in ("", "-wal"):
            src = os.path.join(self.data_dir, "sandstorm.sqlite3" + suffix)
            if os.path.exists(src):
                shutil.copyfile(src, os.path.join(copy, "s.sqlite3" + suffix))
        db = sqlite3.connect(os.path.join(copy, "s.sqlite3"))
        try:
            result = db.execute("PRAGMA integrity_check").fetchall()
            check(result == [("ok",)], f"integrity_check: {result}")
            fk = db.execute("PRAGMA foreign_key_check").fetchall()
            check(fk == [], f"foreign_key_check: {fk}")
        finally:
            db.close()

    def resolve(self, allowed, actual, what):
        check(actual in allowed, f"{what}: found {actual!r}, acknowledged {sorted(allowed)!r}")
        return {actual}

    def check_all(self, full):
        m, a = self.model, self.admin
        # Accounts: every name listed, new ones log in, sessions as acknowledged.
        users = {u["name"] for u in a.get("/api/users").json()}
        for name, u in list(m.users.items()):
            if u["maybe"]:
                if name in users:
                    u["maybe"] = False
                else:
                    del m.users[name]
                continue
            check(name in users, f"acknowledged account {name} is gone")
        names = sorted(m.users)
        for name in ([self.rng.choice(names)] if not full else names):
            r = http(self.server.port, "POST", "/api/login",
                     json.dumps({"name": name, "password": PASSWORD}),
                     {"Content-Type": "application/json"})
            check(r.status == 200, f"acknowledged account {name} cannot log in: {r}")
        for s in m.sessions:
            r = http(self.server.port, "GET", "/api/session", headers={"Cookie": s[0]})
            valid = r.json()["user"] is not None
            s[2] = self.resolve(s[2], valid, f"session of {s[1]} valid")
        m.sessions = [s for s in m.sessions if s[2] == {True}][-20:]
        for token, inv in list(m.invites.items()):
            valid = http(self.server.port, "GET", f"/api/invites/{token}").json()["valid"]
            used = self.resolve(inv["used"], not valid, f"invite {token[:8]} used")
            if used == {True}:
                del m.invites[token]
        # Apps: listed with the acknowledged version; uninstalled ones gone.
        apps = {x["appId"]: x for x in a.get("/api/apps").json()}
        for app_id, app in m.apps.items():
            app["present"] = self.resolve(app["present"], app_id in apps, f"app {app['name']}")
            if app_id in apps:
                app["versions"] = self.resolve(app["versions"], apps[app_id]["version"],
                                               f"app {app['name']} version")
        # Grains: titles, trash state, existence.
        listed = {g["id"]: g for g in a.get("/api/grains").json()}
        trashed = {g["id"]: g for g in a.get("/api/grains?trash=1").json()}
        for gid, g in m.grains.items():
            g["exists"] = self.resolve(g["exists"], gid in listed or gid in trashed,
                                       f"grain {gid} exists")
            if gid in listed or gid in trashed:
                info = listed.get(gid) or trashed[gid]
                g["titles"] = self.resolve(g["titles"], info["title"], f"grain {gid} title")
                g["trashed"] = self.resolve(g["trashed"], gid in trashed, f"grain {gid} trashed")
        m.grains = {k: v for k, v in m.grains.items() if v["exists"] == {True}}
        # Notes: in the grains written since the last check, and one more.
        live = self.live_grains()
        todo = sorted(m.touched & set(live))
        if live:
            todo.append(self.rng.choice(live))
        for gid in (live if full else todo):
            g = m.grains[gid]
            port, cookie = self.open_grain(gid)
            page = http(port, "GET", "/", headers={"Cookie": cookie}, timeout=60)
            check(page.status == 200, f"grain {gid} does not answer after the restart: {page}")
            for note in g["notes"]:
                check(note in page.body, f"acknowledged note {note} lost from grain {gid}")
            for note in list(g["maybe_notes"]):
                if note in page.body:
                    g["notes"].add(note)
            g["maybe_notes"].clear()
            self.close_sessions()
        m.touched.clear()
        # Sharing links: revoked ones stay revoked.
        lists = {}
        for token, s in list(m.shares.items()):
            sid = s["id"]
            status = http(self.server.port, "GET", f"/api/shares/{token}").status
            g = m.grains.get(s["grain"])
            if g is None:
                check(status == 404, f"link {sid} of a deleted grain answers {status}")
                del m.shares[token]
                continue
            if s["grain"] not in lists:
                lists[s["grain"]] = {x["id"]: x for x in
                                     a.get(f"/api/grains/{s['grain']}/shares").json()}
            row = lists[s["grain"]].get(sid)
            check(row is not None, f"acknowledged link {sid} is gone from its grain's list")
            s["revoked"] = self.resolve(s["revoked"], row["revokedAt"] is not None,
                                        f"link {sid} revoked")
            if s["revoked"] == {True} or g["trashed"] == {True}:
                check(status == 404, f"revoked link {sid} (or of a trashed grain) answers {status}")
            else:
                check(status == 200, f"live link {sid} answers {status}")
        self.check_files()

    def check_files(self):
        """Nothing half-done on disk: leftovers of an unpack, upload or restore."""
        d = self.data_dir
        db = sqlite3.connect(f"file:{d}/sandstorm.sqlite3?mode=ro", uri=True)
        try:
            packages = {r[0] for r in db.execute("SELECT package_id FROM packages")}
            grain_rows = {r[0] for r in db.execute("SELECT id FROM grains")}
            used = {r[0] for r in db.execute("SELECT package_id FROM grains UNION "
                                             "SELECT package_id FROM apps")}
        finally:
            db.close()
        on_disk = set(os.listdir(os.path.join(d, "packages")))
        stray = sorted(n for n in on_disk if n.startswith("."))
        check(not stray, f"unpack leftovers in packages/: {stray}")
        missing = sorted(used - on_disk)
        check(not missing, f"rows name packages without a directory: {missing}")
        orphans = sorted(on_disk - packages)
        check(not orphans, f"package directories without a row: {orphans}")
        for p in packages & on_disk:
            check(os.path.exists(os.path.join(d, "packages", p, "sandstorm-manifest")),
                  f"package {p} is incomplete (no sandstorm-manifest)")
        uploads = os.listdir(os.path.join(d, "uploads"))
        check(not uploads, f"upload leftovers after the restart: {uploads}")
        grain_dirs = set(os.listdir(os.path.join(d, "grains")))
        orphans = sorted(grain_dirs - grain_rows)
        check(not orphans, f"grain directories without a row: {orphans}")
        # One supervisor (bridge) per grain, never two runs of one grain at once.
        bridges = {}
        for pid in session_members(self.server.proc.pid):
            try:
                if not open(f"/proc/{pid}/comm").read().startswith("sandstorm-http"):
                    continue
                # (a bridge's child between fork and exec has its name too: not a second one)
                ppid = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[1]
                if open(f"/proc/{ppid}/comm").read().startswith("sandstorm-http"):
                    continue
                cgroup = open(f"/proc/{pid}/cgroup").read()
            except OSError:
                continue
            for gid in grain_rows:
                if gid in cgroup:
                    bridges[gid] = bridges.get(gid, 0) + 1
        doubled = sorted(g for g, n in bridges.items() if n > 1)
        check(not doubled, f"grains with more than one bridge running: {doubled}")

    # ---- grain processes ----

    def grain_processes(self, gid):
        out = []
        for pid in session_members(self.server.proc.pid):
            if pid == self.server.proc.pid:
                continue
            try:
                if gid in open(f"/proc/{pid}/cgroup").read():
                    out.append(pid)
            except OSError:
                pass
        return out

    def grain_kill_cycle(self):
        """Kill the app or the bridge of a running grain; the next request must work."""
        live = self.live_grains()
        if not live:
            self.op_new_grain()
            live = self.live_grains()
        gid = self.rng.choice(live)
        port, cookie = self.open_grain(gid)
        check(http(port, "GET", "/", headers={"Cookie": cookie}).status == 200, "grain page")
        procs = self.grain_processes(gid)
        check(procs, f"no processes found for running grain {gid}")
        victim = self.rng.choice(sorted(procs))
        comm = open(f"/proc/{victim}/comm").read().strip()
        time.sleep(self.rng.uniform(0, 0.2))
        os.kill(victim, signal.SIGKILL)
        self.stats["grain_kills"] += 1
        r = http(port, "GET", "/", headers={"Cookie": cookie}, timeout=60)
        check(r.status == 200, f"after killing {comm} ({victim}) of grain {gid}, the next "
                               f"request got {r}")
        for note in self.model.grains[gid]["notes"]:
            check(note in r.body, f"acknowledged note {note} lost after killing {comm}")
        self.close_sessions()

    # ---- the loop ----

    def main(self):
        a = self.args
        print(f"durability: seed {a.seed}, {a.kills} kill points, data under {self.tmp}",
              flush=True)
        started = time.monotonic()
        cycle, failures = 0, []
        while self.stats["kills"] < a.kills:
            try:
                if cycle % CYCLES_PER_DATA_DIR == 0:
                    if self.server is not None:
                        self.server.stop()
                        shutil.rmtree(self.data_dir, ignore_errors=True)
                    self.fresh_data_dir()
                cycle += 1
                if self.rng.random() < GRAIN_KILL_SHARE:
                    self.grain_kill_cycle()
                delay = self.rng.uniform(*KILL_DELAY_S)
                timer = threading.Timer(delay, lambda: (self.killed.set(), self.server.kill()))
                timer.start()
                interrupted = self.workload(time.monotonic() + 30)
                timer.join()
                self.stats["kills"] += 1
                self.restart()
                self.check_all(full=cycle % 10 == 0)
                if a.verbose:
                    print(f"  kill {self.stats['kills']} at {delay:.3f} s "
                          f"(interrupted: {interrupted})", flush=True)
            except (Loss, AssertionError) as e:
                failures.append(f"kill point {self.stats['kills']}: {e}")
                print(f"FAIL at kill point {self.stats['kills']} (seed {a.seed}): {e}",
                      flush=True)
                if self.server is not None:
                    print("--- daemon log tail ---\n" + self.server.log_tail(), flush=True)
                    self.server.stop()
                if not a.keep_going:
                    print(f"data kept in {self.tmp}")
                    return 1
                # Go on with a fresh directory; this one is kept for a look.
                self.server = None
                kept = self.data_dir + f"-failed-{len(failures)}"
                os.rename(self.data_dir, kept)
                print(f"data kept in {kept}; going on", flush=True)
                self.killed.clear()
                self.open_sessions = []
                cycle = 0
        self.server.stop()
        s = self.stats
        print(f"durability: {s['kills']} daemon kill points, {s['grain_kills']} grain process "
              f"kills, {s['acked']} acknowledged operations ({s['notes']} notes), "
              f"{s['unknown']} interrupted, {s['data_dirs']} data directories, "
              f"{len(failures)} failures; slowest restart {s['max_start']:.2f} s; "
              f"{time.monotonic() - started:.0f} s", flush=True)
        for f in failures:
            print("  " + f)
        if not a.keep and not failures:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return 1 if failures else 0

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("apps_dir", help="holds notes.spk and static-site.spk")
    ap.add_argument("grain_test_spk")
    ap.add_argument("grain_test_v2_spk")
    ap.add_argument("--kills", type=int, default=25)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--keep", action="store_true", help="keep the data directories")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--keep-going", action="store_true",
                    help="after a failure, report it and go on with a fresh data directory")
    a = ap.parse_args()
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(2**32)
    a.binary = os.path.abspath(a.binary)
    a.spks = {"notes": os.path.join(a.apps_dir, "notes.spk"),
              "static": os.path.join(a.apps_dir, "static-site.spk"),
              "grain-test": a.grain_test_spk, "grain-test-v2": a.grain_test_v2_spk}
    for path in a.spks.values():
        if not os.path.exists(path):
            sys.exit(f"missing package {path}")
    return Run(a).main()


if __name__ == "__main__":
    sys.exit(main())
