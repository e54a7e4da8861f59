"""The last steps before a container process runs, shared by the container's init and by
``exec``: who it runs as, its capabilities, no_new_privs, its signals, and the execve
whose failure becomes Docker's 126/127."""

from __future__ import annotations

import json
import os
import signal
from dataclasses import dataclass

from sbx.linux import caps, syscalls
from sbx.linux.consts import PR_SET_NO_NEW_PRIVS
from sbx.linux.seccomp import Filter
from sbx.runtime.userspec import UserSpec  # imported here: after pivot_root nothing can be

EXIT_CANNOT_RUN = 126
EXIT_NOT_FOUND = 127
EXIT_SETUP = 125


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int
    groups: tuple[int, ...]
    home: str


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def resolve_user(user: str) -> Identity:
    """Resolve ``user`` against the container's /etc/passwd and /etc/group (after pivot)."""
    spec = UserSpec.parse(user or "0")
    uid, gid, groups, home = spec.resolve(_read("/etc/passwd"), _read("/etc/group"))
    return Identity(uid, gid, tuple(groups), home or "/")


def reset_signals() -> None:
    """execve keeps ignored signals ignored: give the program default dispositions."""
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM, signal.SIGHUP,
                signal.SIGQUIT, signal.SIGCHLD, signal.SIGTTOU, signal.SIGTTIN, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_DFL)
    try:
        signal.set_wakeup_fd(-1)
    except ValueError:
        pass
    signal.pthread_sigmask(signal.SIG_SETMASK, set())


def become(ident: Identity, *, keep_caps: tuple[str, ...] = caps.DOCKER_DEFAULT,
           privileged: bool = False, no_new_privs: bool = False,
           seccomp: Filter | None = None) -> None:
    """Caps, user, no_new_privs and the seccomp filter, in runc's order: without
    no_new_privs the filter is loaded first, while CAP_SYS_ADMIN is still held (what runs
    after it, prctl, setgroups, setgid, setuid, rt_sigaction, execve, the profile allows);
    with no_new_privs it is loaded last, as close to execve as it gets."""
    if seccomp is not None and not no_new_privs:
        seccomp.load()
    if not privileged:
        caps.drop_bounding_except(keep_caps)
    if _setgroups_allowed():
        os.setgroups(list(ident.groups))
    os.setgid(ident.gid)
    os.setuid(ident.uid)
    if no_new_privs:
        syscalls.prctl(PR_SET_NO_NEW_PRIVS, 1)
        if seccomp is not None:
            seccomp.load()


def _setgroups_allowed() -> bool:
    """False in a user namespace with a single-id map (``/proc/self/setgroups`` is "deny")."""
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() != "deny"
    except OSError:
        return True


def with_home(env: list[str], home: str) -> list[str]:
    if any(e.startswith("HOME=") for e in env):
        return env
    return [*env, f"HOME={home}"]


def execute(argv: list[str], env: list[str], err_fd: int) -> None:
    """execve the command (PATH from ``env``); on failure report on ``err_fd`` and exit
    126/127 like Docker."""
    envd: dict[str, str] = {}
    for e in env:
        key, _, value = e.partition("=")
        envd[key] = value
    try:
        os.execvpe(argv[0], argv, envd)
    except FileNotFoundError:
        if "/" in argv[0]:
            msg = f'exec: "{argv[0]}": stat {argv[0]}: no such file or directory'
        else:
            msg = f'exec: "{argv[0]}": executable file not found in $PATH'
        report(err_fd, "exec", 2, argv[0], msg, EXIT_NOT_FOUND)
    except PermissionError:
        report(err_fd, "exec", 13, argv[0], f'exec: "{argv[0]}": permission denied', EXIT_CANNOT_RUN)
    except OSError as e:
        report(err_fd, "exec", e.errno or 0, argv[0], f'exec: "{argv[0]}": {e.strerror}', EXIT_CANNOT_RUN)


def report(fd: int, step: str, errno: int, path: str, detail: str, code: int) -> None:
    """Send the failure to the parent and end this process (never returns)."""
    msg = json.dumps({"step": step, "errno": errno, "path": path, "detail": detail,
                      "code": code}).encode()
    try:
        os.write(fd, msg)
    finally:
        os._exit(code)


def decode_report(data: bytes) -> dict[str, object]:
    try:
        d = json.loads(data)
        if isinstance(d, dict):
            return d
    except ValueError:
        pass
    return {"step": "setup", "errno": 0, "path": "", "detail": data.decode(errors="replace"),
            "code": EXIT_SETUP}
