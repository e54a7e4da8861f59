"""The user's namespace ``U``: created once, held by a pause process, joined by every sbx
process that needs root powers (see the package docstring).

Creating it (first use after boot, or after the pause process died)::

    sbx (user, host namespace)            pause process (fresh interpreter)
    flock(runroot/userns.lock)
    Popen ─────────────────────────────► unshare(CLONE_NEWUSER)
    read "u" ◄────────────────────────── write "u"
    newuidmap PID 0 UID 1 1 SUB N         (full map; single map: the pause process
    newgidmap PID 0 GID 1 1 SUB N          writes its own one-line maps)
    write "mapped" ────────────────────► (single: setgroups deny, uid_map, gid_map)
    read "ok" ◄──────────────────────── write "ok"; setsid; exec sleep infinity
    runroot/userns.json {pid, start}

Joining is ``setns(/proc/PID/ns/user)``: the user owns ``U``, so the kernel grants all
capabilities in it; the process must be single-threaded (the CLI, the fork server, a
monitor just forked).  Containers are created inside ``U`` by processes that joined it, so
every later sbx process of the user (also in ``U``) can signal, enter and remove them.
"""

from __future__ import annotations

import os
import pwd
import sys
import threading
from pathlib import Path

from sbx import fresh
from sbx.errors import KernelError, PermissionDenied, SbxError
from sbx.linux import proc
from sbx.rootless import idmap

_ENABLE_HINT = ("enable unprivileged user namespaces (sysctl user.max_user_namespaces=15000; "
                "on Debian/Ubuntu kernels also kernel.unprivileged_userns_clone=1, and with "
                "AppArmor kernel.apparmor_restrict_unprivileged_userns=0), or run sbx as root")


class UsernsUnavailable(PermissionDenied):
    pass


_STATE_DIR: list[Path] = []


def state_dir() -> Path:
    """Where the pause record lives: the user's runtime directory, whatever store (SBX_ROOT)
    a command uses, so that all of a user's sbx processes share one ``U``.  Found (and
    checked private) once per process: the plugin asks on every container start."""
    if not _STATE_DIR:
        from sbx.layout import user_runtime_dir

        _STATE_DIR.append(user_runtime_dir(idmap.current().host_uid))
    return _STATE_DIR[0]


def record_path(runroot: Path) -> Path:
    return runroot / "userns.json"


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _live_pause(runroot: Path) -> int | None:
    from sbx import atomic

    try:
        rec = atomic.read_json(record_path(runroot))
        pid, start = int(rec["pid"]), int(rec["start"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return pid if proc.is_alive(pid, start) else None


def ensure(runroot: Path) -> int:
    """The pid of the pause process holding ``U``, creating it if needed."""
    pid = _live_pause(runroot)
    if pid is not None:
        return pid
    from sbx.locks import flocked

    runroot.mkdir(parents=True, exist_ok=True)
    with flocked(runroot / "userns.lock"):
        pid = _live_pause(runroot)
        if pid is None:
            pid = _adopt(runroot) or _create(runroot)
    return pid


def _ns_of(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/user")
    except OSError:
        return ""


def _adopt(runroot: Path) -> int | None:
    """The pause process is gone (killed, OOM) but containers may still run in its
    namespace: find one of the user's processes still in it and start a new pause
    process there, so the running containers stay reachable.  None when none is left."""
    from sbx import atomic

    try:
        old = atomic.read_json(record_path(runroot))
        ns = str(old["ns"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    uid = os.getuid()
    holder = None
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            if os.stat(f"/proc/{name}").st_uid != uid:
                continue
        except OSError:
            continue
        if _ns_of(int(name)) == ns:
            holder = int(name)
            break
    if holder is None:
        return None
    import subprocess

    child = subprocess.Popen(
        fresh.argv("sbx.rootless.userns:pause_join_main", str(holder)),
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        close_fds=True, start_new_session=True, cwd="/")
    assert child.stdout is not None
    answer = child.stdout.readline().decode().strip()
    child.stdout.close()
    if answer != "ok" or _ns_of(child.pid) != ns:
        child.kill()
        child.wait()
        return None
    atomic.write_json(record_path(runroot), {**old, "pid": child.pid,
                                             "start": proc.start_time(child.pid)})
    child.returncode = 0
    return child.pid


def pause_join_main(holder: int | str) -> None:
    """A new pause process inside the namespace of ``holder`` (see ``_adopt``)."""
    from sbx.linux import syscalls
    from sbx.linux.consts import CLONE_NEWUSER

    fd = os.open(f"/proc/{holder}/ns/user", os.O_RDONLY)
    syscalls.setns(fd, CLONE_NEWUSER)
    os.close(fd)
    _say("ok")
    _become_pause()


def _create(runroot: Path) -> int:
    from sbx import atomic

    uid, gid = os.getuid(), os.getgid()
    m = idmap.for_user(uid, gid, _user_name(uid))
    import subprocess

    child = subprocess.Popen(
        fresh.argv("sbx.rootless.userns:pause_main"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        close_fds=True, start_new_session=True, cwd="/")
    assert child.stdin is not None and child.stdout is not None
    try:
        first = child.stdout.readline().decode().strip()
        if first != "u":
            child.wait()
            raise UsernsUnavailable(f"cannot create a user namespace: {first or 'the helper exited'}",
                                    hint=_ENABLE_HINT)
        if m.full:
            for tool, which in (("newuidmap", "uid"), ("newgidmap", "gid")):
                r = subprocess.run([tool, str(child.pid), *m.newidmap_args(which)],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    child.kill()
                    child.wait()
                    raise UsernsUnavailable(
                        f"{tool} failed: {(r.stderr or r.stdout).strip() or 'exit ' + str(r.returncode)}",
                        hint=f"check the user's ranges in {idmap.SUBUID} and {idmap.SUBGID} "
                             f"and that {tool} is setuid root")
            child.stdin.write(b"mapped\n")
        else:
            child.stdin.write(f"single {uid} {gid}\n".encode())
        child.stdin.flush()
        answer = child.stdout.readline().decode().strip()
        if answer != "ok":
            child.wait()
            raise UsernsUnavailable(f"cannot set up the user namespace: {answer or 'the helper exited'}",
                                    hint=_ENABLE_HINT)
    finally:
        child.stdin.close()
        child.stdout.close()
    start = proc.start_time(child.pid)
    atomic.write_json(record_path(runroot), {"pid": child.pid, "start": start,
                                             "ns": _ns_of(child.pid), "full": m.full,
                                             "note": m.note})
    # The pause process must outlive us: forget it so Popen's finalizer never reaps it.
    child.returncode = 0
    return child.pid


def pause_main() -> None:
    """The pause process (a fresh interpreter, see the ladder above)."""
    from sbx.linux import syscalls
    from sbx.linux.consts import CLONE_NEWUSER

    try:
        syscalls.unshare(CLONE_NEWUSER)
    except KernelError as e:
        _say(f"unshare(CLONE_NEWUSER): {os.strerror(e.errno)}", fail=True)
    _say("u")
    line = sys.stdin.buffer.readline().decode().split()
    try:
        if line and line[0] == "single":
            uid, gid = int(line[1]), int(line[2])
            with open("/proc/self/setgroups", "w") as f:
                f.write("deny")
            with open("/proc/self/uid_map", "w") as f:
                f.write(f"0 {uid} 1\n")
            with open("/proc/self/gid_map", "w") as f:
                f.write(f"0 {gid} 1\n")
        elif not line or line[0] != "mapped":
            os._exit(1)
    except OSError as e:
        _say(f"writing the id map: {e.strerror}", fail=True)
    _say("ok")
    _become_pause()


def _say(line: str, *, fail: bool = False) -> None:
    """One line to the creator (the pause process's stdout); ``fail`` ends the process."""
    sys.stdout.buffer.write(f"{line}\n".encode())
    sys.stdout.flush()
    if fail:
        os._exit(1)


def _become_pause() -> None:
    import signal

    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    sleep = "/bin/sleep" if os.path.exists("/bin/sleep") else "/usr/bin/sleep"
    try:
        os.execv(sleep, ["sbx-pause", "infinity"])
    except OSError:
        while True:
            signal.pause()


def needed() -> bool:
    """True for a rootless process that has not joined ``U`` yet."""
    mode = idmap.current()
    return mode.rootless and not mode.in_userns


def join() -> None:
    """Enter ``U`` (creating it if needed).  A no-op for root and for processes already
    inside a user namespace.  Must be called while single-threaded."""
    if not needed():
        return
    if threading.active_count() > 1:
        raise SbxError("internal: joining the user namespace from a threaded process",
                       hint="use the fork server")
    from sbx.linux import syscalls
    from sbx.linux.consts import CLONE_NEWUSER

    runroot = state_dir()
    for attempt in (0, 1):
        pid = ensure(runroot)
        path = f"/proc/{pid}/ns/user"
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            if attempt:
                raise
            continue
        try:
            syscalls.setns(fd, CLONE_NEWUSER, path)
        finally:
            os.close(fd)
        break
    try:
        os.setgroups([])   # the host's supplementary groups mean nothing inside
    except OSError:
        pass
    idmap.reset()


def info() -> dict[str, object]:
    """The record of ``U`` (pid, full, note), or {} when it does not exist yet."""
    from sbx import atomic

    try:
        rec = atomic.read_json(record_path(state_dir()))
        return rec if isinstance(rec, dict) else {}
    except (OSError, ValueError):
        return {}


def remove_trees(paths: list[Path]) -> None:
    """Delete directory trees that hold files of the container's ids (layers, containers'
    writable layers).  Outside ``U`` the user cannot, so a process that has not joined it
    (the pytest plugin) has it done by a fork that joins ``U``, or by the fork server when
    it has threads.  Missing paths are fine."""
    import shutil

    if not needed():
        for p in paths:
            shutil.rmtree(p, ignore_errors=True)
        return
    existing = []
    for p in paths:  # most of a tree is usually the user's own: try without U first
        failed: list[bool] = []
        note = (lambda *_a, _f=failed: _f.append(True))  # noqa: E731
        if sys.version_info >= (3, 12):
            shutil.rmtree(p, onexc=note)  # type: ignore[call-arg,unused-ignore]
        else:
            shutil.rmtree(p, onerror=note)
        if failed and os.path.lexists(p):
            existing.append(str(p))
    if not existing:
        return
    if threading.active_count() > 1:
        from sbx.runtime.forkserver import ForkServer

        ForkServer.get().remove_trees(existing)
        return
    ensure(state_dir())
    pid = os.fork()
    if pid == 0:
        proc.forked_child()
        code = 0
        try:
            join()
            for tree in existing:
                shutil.rmtree(tree, ignore_errors=True)
        except BaseException:  # noqa: BLE001 - the parent only needs to know it failed
            code = 1
        finally:
            os._exit(code)
    os.waitpid(pid, 0)


def stop() -> bool:
    """End the pause process (``sbx system migrate``); False when none ran."""
    import signal

    from sbx import atomic

    runroot = state_dir()
    try:
        rec = atomic.read_json(record_path(runroot))
        pid, start = int(rec["pid"]), int(rec["start"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    done = proc.signal_checked(pid, start, signal.SIGKILL)
    record_path(runroot).unlink(missing_ok=True)
    return done
