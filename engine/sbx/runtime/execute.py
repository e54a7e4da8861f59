"""``sbx exec``: a new process inside a running container.

The caller forks a joiner that enters the container's cgroup (while host paths still
resolve), then its ipc, uts, net, pid and mount namespaces (mount last), and forks the
process that runs the command (the pid namespace applies to children only).  It takes the
container's env, workdir and user unless overridden, Docker's capabilities and
no_new_privs.  A failed execve comes back over a CLOEXEC pipe as 126/127."""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from pathlib import Path

from sbx.errors import CommandNotExecutable, CommandNotFound, ContainerSetupError, KernelError
from sbx.linux import caps, proc, syscalls
from sbx.linux.consts import NS_FLAGS, TIOCSCTTY
from sbx.runtime import process
from sbx.runtime.records import ContainerRecord
from sbx.runtime.envfile import merge_env

NS_ORDER = ("ipc", "uts", "net", "pid", "mnt")


@dataclass(frozen=True)
class ExecSpec:
    argv: tuple[str, ...]
    env: tuple[str, ...] = ()
    workdir: str | None = None
    user: str | None = None
    tty: bool = False
    stdin_open: bool = False
    privileged: bool = False


@dataclass
class ExecProcess:
    pid: int              # the joiner (its exit code is the command's)
    pty_master: int = -1

    def wait(self) -> int:
        _, status = os.waitpid(self.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        return 128 - code if code < 0 else code


def start(rec: ContainerRecord, es: ExecSpec, procs_files: list[Path]) -> ExecProcess:
    st = rec.state
    ns_fds = []
    try:
        for ns in NS_ORDER:
            ns_fds.append((ns, os.open(f"/proc/{st.pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC)))
    except FileNotFoundError:
        for _, fd in ns_fds:
            os.close(fd)
        raise ContainerSetupError("open namespaces", 3, f"/proc/{st.pid}/ns",
                                  "the container's init process is gone") from None
    if not proc.is_alive(st.pid, st.pid_start):
        raise ContainerSetupError("open namespaces", 3, f"/proc/{st.pid}",
                                  "the container's init process is gone")
    master = slave = -1
    if es.tty:
        master, slave = os.openpty()
    err_r, err_w = os.pipe()
    spec = rec.spec
    env = merge_env(list(spec.env), list(es.env))
    if es.tty and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    pid = os.fork()
    if pid == 0:
        os.close(err_r)
        try:
            _joiner(ns_fds, procs_files, err_w, slave, master, es, env,
                    es.workdir or spec.workdir, es.user if es.user is not None else spec.user,
                    spec)
        finally:
            os._exit(125)
    os.close(err_w)
    if slave >= 0:
        os.close(slave)
    for _, fd in ns_fds:
        os.close(fd)
    data = b""
    while chunk := os.read(err_r, 65536):
        data += chunk
    os.close(err_r)
    if data:
        os.waitpid(pid, 0)
        info = process.decode_report(data)
        code = int(info.get("code", 125))  # type: ignore[call-overload]
        detail = str(info.get("detail", ""))
        if info.get("step") == "exec":
            cls = CommandNotFound if code == 127 else CommandNotExecutable
            raise cls(f"OCI runtime exec failed: {detail}", hint="check the command and the container's PATH")
        raise ContainerSetupError(str(info.get("step")), int(info.get("errno", 0)),  # type: ignore[call-overload]
                                  str(info.get("path", "")), detail)
    return ExecProcess(pid, master)


def _joiner(ns_fds, procs_files, err_w, slave, master, es, env, workdir, user, spec):  # type: ignore[no-untyped-def]
    step = "join cgroup"
    try:
        for f in procs_files:
            with open(f, "w") as fh:
                fh.write("0")
        for ns, fd in ns_fds:
            step = f"setns {ns}"
            syscalls.setns(fd, NS_FLAGS[ns], ns)
        child = os.fork()
        if child == 0:
            step = "prepare process"
            if master >= 0:
                os.close(master)
            os.setsid()
            if slave >= 0:
                fcntl.ioctl(slave, TIOCSCTTY, 0)
                for i in (0, 1, 2):
                    os.dup2(slave, i)
                os.close(slave)
            elif not es.stdin_open:
                devnull = os.open(os.devnull, os.O_RDONLY)
                os.dup2(devnull, 0)
                os.close(devnull)
            step = "resolve user"
            ident = process.resolve_user(user)
            step = "chdir"
            os.chdir(workdir)
            step = "drop privileges"
            keep = set(caps.DOCKER_DEFAULT) | caps.parse_cap_list(list(spec.cap_add))
            keep -= caps.parse_cap_list(list(spec.cap_drop))
            process.become(ident, keep_caps=tuple(sorted(keep)), privileged=es.privileged or spec.privileged)
            process.reset_signals()
            process.execute(list(es.argv), process.with_home(env, ident.home), err_w)
        os.close(err_w)
        if slave >= 0:
            os.close(slave)
        _, status = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(status)
        os._exit(128 - code if code < 0 else code)
    except KernelError as e:
        process.report(err_w, step, e.errno, e.path, e.message, 125)
    except OSError as e:
        process.report(err_w, step, e.errno or 0, e.filename or "", f"{step}: {e.strerror}", 125)
    except Exception as e:  # noqa: BLE001
        process.report(err_w, step, 0, "", f"{step}: {e}", 125)
