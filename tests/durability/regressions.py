#!/usr/bin/env python3
"""Regression tests for what tests/durability found, each at an exact kill point (no timing):
strace stops the daemon with SIGKILL at the Nth call of a syscall (`-e inject=...:signal=KILL`).

  delete-one       DELETE /api/grains/<id> removes that grain only, not the whole trash.
  uninstall-cut    an uninstall killed halfway through removing the package files: after the
                   restart no half-removed package is left, and installing the app again gives
                   the complete files (before, the half-removed directory passed for installed).
  grain-delete-cut a grain deletion killed halfway through its files: no orphan directory.
  backup-cut       a grain backup killed as it starts tar: its metadata directory in uploads/
                   is removed at the next start (before, only files were).
  app-killed       the app of a running grain is SIGKILLed: the very next GET is answered by a
  bridge-killed    fresh start (before, 502 "app closed its HTTP port"; then the retried start
                   was killed by the old run's cgroup teardown). Same for the bridge.

usage: regressions.py <case> <sandstorm> <apps dir>"""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from durability import Run, check, http  # noqa: E402
from harness import skip  # noqa: E402


class Args:
    def __init__(self, binary, apps):
        self.binary = os.path.abspath(binary)
        self.spks = {"notes": os.path.join(apps, "notes.spk"),
                     "static": os.path.join(apps, "static-site.spk")}
        self.seed, self.kills, self.keep, self.verbose = 0, 0, False, False


def kill_at(run, syscall, nth):
    """Arms strace on the daemon: its `nth` call of `syscall` from now on is killed."""
    if not shutil.which("strace"):
        skip("strace is not installed (scripts/install-deps.sh installs it)")
    pid = run.server.proc.pid
    tracer = subprocess.Popen(
        ["strace", "-qq", "-p", str(pid), "-e", f"trace={syscall}",
         "-e", f"inject={syscall}:signal=KILL:when={nth}", "-o", "/dev/null"],
        stderr=subprocess.PIPE)
    deadline = time.monotonic() + 20
    while True:  # attached once the tracer shows in the daemon's status
        tracer_pid = [line.split()[1] for line in open(f"/proc/{pid}/status")
                      if line.startswith("TracerPid:")][0]
        if tracer_pid != "0":
            return tracer
        if tracer.poll() is not None:
            skip(f"strace cannot attach here: {tracer.stderr.read().decode()[:300]}")
        check(time.monotonic() < deadline, "strace did not attach within 20 s")
        time.sleep(0.02)


def cut_request(run, tracer, method, path):
    """Sends the request the kill cuts; returns once the daemon is dead and restarted."""
    run.killed.set()
    try:
        run.admin.call(method, path)
        raise AssertionError(f"{method} {path} was answered: the kill point was not reached")
    except Exception as e:  # noqa: BLE001 (the connection dies with the daemon)
        if isinstance(e, AssertionError):
            raise
    run.server.proc.wait(30)
    tracer.wait(30)
    run.restart()


def tree(path):
    out = []
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            full = os.path.join(root, name)
            out.append((os.path.relpath(full, path), os.lstat(full).st_size
                        if not os.path.isdir(full) else -1))
    return sorted(out)


def case_delete_one(run):
    ids = []
    for title in ("kept in the trash", "deleted"):
        r = run.admin.call("POST", "/api/grains", {"appId": run.notes_app, "actionIndex": 0,
                                                   "title": title})
        check(r.status == 201, r)
        ids.append(r.json()["grain"]["id"])
        check(run.admin.call("POST", f"/api/grains/{ids[-1]}/trash", {}).status == 200, "trash")
    check(run.admin.call("DELETE", f"/api/grains/{ids[1]}").status == 204, "delete")
    trash = [g["id"] for g in run.admin.get("/api/grains?trash=1").json()]
    check(trash == [ids[0]], f"the trash after deleting one of two grains: {trash}")


def case_uninstall_cut(run):
    r = run.admin.call("POST", "/api/apps", raw=open(run.spk("static"), "rb").read(),
                       type="application/octet-stream")
    check(r.status == 200, r)
    app = r.json()["app"]
    package_dir = os.path.join(run.data_dir, "packages", app["packageId"])
    complete = tree(package_dir)
    check(len(complete) > 3, f"the package has too few files to cut its removal: {complete}")
    tracer = kill_at(run, "unlinkat", 3)
    cut_request(run, tracer, "DELETE", f"/api/apps/{app['appId']}")
    check(not os.path.exists(package_dir) or tree(package_dir) == complete,
          f"a half-removed package survived the restart: {len(tree(package_dir))} of "
          f"{len(complete)} entries")
    run.check_files()
    r = run.admin.call("POST", "/api/apps", raw=open(run.spk("static"), "rb").read(),
                       type="application/octet-stream")
    check(r.status == 200 and r.json()["result"] in ("installed", "already-installed"), r)
    check(tree(package_dir) == complete, "the reinstalled package is not complete")


def case_grain_delete_cut(run):
    run.op_new_grain()
    gid = next(iter(run.model.grains))
    run.op_notes()  # the grain has files (var/notes/…) to remove
    run.close_sessions()
    check(run.admin.call("POST", f"/api/grains/{gid}/trash", {}).status == 200, "trash")
    tracer = kill_at(run, "unlinkat", 2)
    cut_request(run, tracer, "DELETE", f"/api/grains/{gid}")
    run.check_files()  # no grain directory without its row


def case_backup_cut(run):
    run.op_new_grain()
    gid = next(iter(run.model.grains))
    run.op_notes()
    run.close_sessions()
    tracer = kill_at(run, "clone,clone3", 1)  # posix_spawn of tar: the metadata dir exists
    cut_request(run, tracer, "GET", f"/api/grains/{gid}/backup")
    run.check_files()  # uploads/ is empty again


def case_killed(run, which):
    run.op_new_grain()
    gid = next(iter(run.model.grains))
    run.op_notes()
    port, cookie = run.open_grain(gid)
    check(http(port, "GET", "/", headers={"Cookie": cookie}).status == 200, "grain page")
    procs = {p: open(f"/proc/{p}/comm").read().strip() for p in run.grain_processes(gid)}
    victims = [p for p, comm in procs.items() if comm.startswith(which)]
    check(victims, f"no {which} process among the grain's {procs}")
    os.kill(victims[0], signal.SIGKILL)
    r = http(port, "GET", "/", headers={"Cookie": cookie}, timeout=60)
    check(r.status == 200, f"the request after killing the {which}: {r}")
    for note in run.model.grains[gid]["notes"]:
        check(note in r.body, f"note {note} missing after the restart of the grain")


def main():
    case, binary, apps = sys.argv[1:4]
    cases = {"delete-one": case_delete_one, "uninstall-cut": case_uninstall_cut,
             "grain-delete-cut": case_grain_delete_cut, "backup-cut": case_backup_cut,
             "app-killed": lambda r: case_killed(r, "notes"),
             "bridge-killed": lambda r: case_killed(r, "sandstorm-http")}
    run = Run(Args(binary, apps))
    try:
        run.fresh_data_dir()
        cases[case](run)
        print(f"PASS {case}")
        return 0
    except SystemExit as e:
        return e.code
    except Exception as e:  # noqa: BLE001
        print(f"FAIL {case}: {e}")
        if run.server is not None:
            print("--- daemon log tail ---\n" + run.server.log_tail())
        return 1
    finally:
        if run.server is not None and run.server.proc.poll() is None:
            run.server.stop()
        shutil.rmtree(run.tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
