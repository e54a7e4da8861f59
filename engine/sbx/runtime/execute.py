"""``sbx exec``: a new process inside a running container.

The caller forks a joiner that enters the container's cgroup (while host paths still
resolve), then its ipc, uts, net, pid, cgroup and mount namespaces (mount last), and forks the
process that runs the command (the pid namespace applies to children only).  It takes the
container's env, workdir and user unless overridden, Docker's capabilities and
no_new_privs.  A failed execve comes back over a CLOEXEC pipe as 126/127."""

from __future__ import annotations

import fcntl
import os
import socket
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

from sbx.errors import CommandNotExecutable, CommandNotFound, ContainerSetupError, KernelError
from sbx.linux import caps, keyring, proc, pty, syscalls
from sbx.linux.consts import NS_FLAGS, PR_SET_DUMPABLE, TIOCSCTTY
from sbx.rootless.idmap import current
from sbx.runtime import process, seccomp
from sbx.runtime.envfile import merge_env
from sbx.runtime.records import ContainerRecord

# cgroup after the cgroup join (its root is the container's cgroup: /proc/self/cgroup shows "/")
NS_ORDER = ("ipc", "uts", "net", "pid", "cgroup", "mnt")


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
    """A running exec.  Without a tty its output comes through pipes that ``wait`` copies
    until the command exits (processes it left in the background do not hold the caller's
    output open, as with ``docker exec``)."""

    pid: int              # the joiner (its exit code is the command's); -1: not our child
    pty_master: int = -1
    stdout: int = -1
    stderr: int = -1
    stdin: int = -1
    status: int = -1      # (through the fork server) the joiner writes its exit code here

    def wait(self, out_fd: int = 1, err_fd: int = 2, in_fd: int | None = None) -> int:
        chunks = self.communicate(out_fd, err_fd, in_fd)
        del chunks
        return self.returncode

    def communicate(self, out_fd: int | None = None, err_fd: int | None = None,
                    in_fd: int | None = None) -> tuple[bytes, bytes]:
        """Copy output to the given fds (or collect it) until the command exits."""
        import select

        collected = {self.stdout: bytearray(), self.stderr: bytearray()}
        target = {self.stdout: out_fd, self.stderr: err_fd}
        fds = [fd for fd in (self.stdout, self.stderr) if fd >= 0]
        for fd in fds:
            os.set_blocking(fd, False)
        pidfd = syscalls.pidfd_open(self.pid) if self.pid > 0 else self.status
        watch = [*fds, pidfd] + ([in_fd] if in_fd is not None and self.stdin >= 0 else [])
        done = False
        while fds and not done:
            ready, _, _ = select.select(watch, [], [])
            for fd in ready:
                if fd == pidfd:
                    done = True
                elif fd == in_fd:
                    data = os.read(in_fd, 65536)
                    if data:
                        os.write(self.stdin, data)
                    else:
                        watch.remove(in_fd)
                        os.close(self.stdin)
                        self.stdin = -1
                elif not self._pump(fd, target[fd], collected[fd]):
                    fds.remove(fd)
                    watch.remove(fd)
        for fd in fds:  # drain what the command wrote before it exited
            while self._pump(fd, target[fd], collected[fd]):
                pass
        for fd in (self.stdout, self.stderr, self.stdin):
            if fd >= 0:
                os.close(fd)
        self.returncode = self._reap(pidfd)
        return bytes(collected[self.stdout]), bytes(collected[self.stderr])

    def _reap(self, pidfd: int) -> int:
        if self.pid > 0:
            os.close(pidfd)
            _, status = os.waitpid(self.pid, 0)
            code = os.waitstatus_to_exitcode(status)
            return 128 - code if code < 0 else code
        data = b""
        while chunk := os.read(self.status, 64):
            data += chunk
        os.close(self.status)
        return int(data) if data.strip().isdigit() else 255

    @staticmethod
    def _pump(fd: int, to: int | None, sink: bytearray) -> bool:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return False
        if not data:
            return False
        if to is None:
            sink += data
        else:
            view = memoryview(data)
            while view:
                view = view[os.write(to, view):]
        return True

    returncode: int = -1


def start(rec: ContainerRecord, es: ExecSpec, procs_files: list[Path], *,
          seccomp_path: str = "") -> ExecProcess:
    """``seccomp_path``: the container's compiled filter (``runtime/seccomp.py``), if any."""
    st = rec.state
    ns_fds = []
    order: tuple[str, ...] = NS_ORDER
    mode = current()
    if mode.rootless and not mode.in_userns:
        order = ("user", *NS_ORDER)  # the user's namespace first: it grants the rest
    elif rec.spec.uid_map:
        order = (*NS_ORDER, "user")  # --userns=auto: last, after the session keyring
    try:
        for ns in order:
            ns_fds.append((ns, os.open(f"/proc/{st.pid}/ns/{ns}", os.O_RDONLY | os.O_CLOEXEC)))
    except FileNotFoundError:
        for _, fd in ns_fds:
            os.close(fd)
        raise ContainerSetupError("open namespaces", 3, f"/proc/{st.pid}/ns",
                                  "the container's init process is gone") from None
    if not proc.is_alive(st.pid, st.pid_start):
        raise ContainerSetupError("open namespaces", 3, f"/proc/{st.pid}",
                                  "the container's init process is gone")
    master = -1
    tty_ours = tty_theirs = None
    pipes: dict[str, tuple[int, int]] = {}
    if es.tty:
        # the pty is made inside the container (its devpts), and its master sent back here
        tty_ours, tty_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    else:
        pipes = {"out": os.pipe(), "err": os.pipe()}
        if es.stdin_open:
            pipes["in"] = os.pipe()
    err_r, err_w = os.pipe()
    spec = rec.spec
    env = merge_env(list(spec.env), list(es.env))
    if es.tty and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    workdir = es.workdir or spec.workdir
    user = es.user if es.user is not None else spec.user
    status_r = -1
    if threading.active_count() > 1:
        # never setns from a fork of a threaded process: the fork server runs the joiner
        from sbx.runtime.forkserver import ForkServer

        status_r, status_w = os.pipe()
        try:
            ForkServer.get().exec_joiner(
                ns_fds, procs_files, err_w, tty_theirs, pipes, status_w,
                {"es": asdict(es), "env": env, "workdir": workdir, "user": user,
                 "spec": spec.to_json(), "cid": rec.id, "seccomp": seccomp_path})
        finally:
            os.close(status_w)
        pid = -1
    else:
        pid = os.fork()
    if pid == 0:
        proc.forked_child()
        os.close(err_r)
        try:
            for key, (r, w) in pipes.items():
                os.dup2(r if key == "in" else w, {"in": 0, "out": 1, "err": 2}[key])
                os.close(r)
                os.close(w)
            _joiner(ns_fds, procs_files, err_w, tty_theirs, es, env, workdir, user, spec,
                    cid=rec.id, seccomp_path=seccomp_path)
        finally:
            os._exit(125)
    os.close(err_w)
    if tty_ours is not None and tty_theirs is not None:
        tty_theirs.close()
        master = pty.recv_fd(tty_ours)  # -1: the process failed first (reported below)
        if master >= 0:
            pty.copy_size(0, master)  # sized before the command runs (no SIGWINCH race)
            try:
                tty_ours.send(b"k")
            except OSError:
                pass
        tty_ours.close()
    for key, (r, w) in pipes.items():
        os.close(r if key == "in" else w)
    for _, fd in ns_fds:
        os.close(fd)
    data = b""
    while chunk := os.read(err_r, 65536):
        data += chunk
    os.close(err_r)
    if data:
        if master >= 0:
            os.close(master)
        _reap_quietly(pid, status_r)
        info = process.decode_report(data)
        code = int(info.get("code", 125))  # type: ignore[call-overload]
        detail = str(info.get("detail", ""))
        if info.get("step") == "exec":
            cls = CommandNotFound if code == 127 else CommandNotExecutable
            raise cls(f"OCI runtime exec failed: {detail}", hint="check the command and the container's PATH")
        raise ContainerSetupError(str(info.get("step")), int(info.get("errno", 0)),  # type: ignore[call-overload]
                                  str(info.get("path", "")), detail)
    if es.tty and master < 0:
        _reap_quietly(pid, status_r)
        raise ContainerSetupError("open a pty in the container", 0, "/dev/ptmx",
                                  "the process ended before its terminal was ready")
    return ExecProcess(pid, master, stdout=pipes["out"][0] if pipes else -1,
                       stderr=pipes["err"][0] if pipes else -1,
                       stdin=pipes["in"][1] if "in" in pipes else -1, status=status_r)


def _reap_quietly(pid: int, status_r: int) -> None:
    if pid > 0:
        os.waitpid(pid, 0)
    if status_r >= 0:
        os.close(status_r)


def _same_ns(fd: int, ns: str) -> bool:
    theirs, ours = os.fstat(fd), os.stat(f"/proc/self/ns/{ns}")
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


def _joiner(ns_fds, procs_files, err_w, tty_sock, es, env, workdir, user, spec, status_fd=-1,  # type: ignore[no-untyped-def]
            *, cid="", seccomp_path=""):
    step = "make the joiner non-dumpable"
    try:
        # nothing in the container may ptrace this process or read its /proc files; the
        # child inherits it (its own execve makes the command dumpable again)
        syscalls.prctl(PR_SET_DUMPABLE, 0)
        # nor see the caller's descriptors or environment through it (with SYS_PTRACE a
        # container may read a non-dumpable process's /proc files in root mode)
        step = "let go of inherited descriptors"
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        proc.release_fds({0, 1, 2, err_w, status_fd, null, *(fd for _, fd in ns_fds),
                          *([tty_sock.fileno()] if tty_sock is not None else [])})
        proc.scrub_environ()
        step = "read the seccomp filter"
        bpf = seccomp.load_file(seccomp_path)  # a host path: before setns(mnt)
        step = "join cgroup"
        for f in procs_files:
            with open(f, "w") as fh:
                fh.write("0")
        user_fd = -1
        for ns, fd in ns_fds:
            step = f"setns {ns}"
            if ns == "user" and spec.uid_map:
                user_fd = fd  # --userns=auto: joined below, after the session keyring
                continue
            if _same_ns(fd, ns):
                continue  # already there: the fork server's user namespace, --pid host,
                # --ipc host, --network host (setns into an ancestor's may be refused)
            syscalls.setns(fd, NS_FLAGS[ns], ns)
        for _, fd in ns_fds:
            if fd != user_fd:
                os.close(fd)
        # Everything that needs more than the container's privileges happens here, before
        # the fork: the child is in the container's pid namespace, so the container sees it
        # from its first instruction; it must hold no more than a container process.
        if cid:  # the container's session keyring (runc's _ses.<id>), not the caller's
            step = "join the session keyring"
            keyring.join_session_keyring(keyring.session_name(cid), in_userns=current().rootless)
        if user_fd >= 0:  # found by its host-root owner above; now the container's ids
            step = "setns user"
            syscalls.setns(user_fd, NS_FLAGS["user"], "user")
            os.close(user_fd)
        step = "resolve user"
        ident = process.resolve_user(user)
        step = "chdir"
        os.chdir(workdir)
        step = "drop privileges"
        keep = caps.container_set(spec.cap_add, spec.cap_drop)
        privileged = es.privileged or spec.privileged
        # (Docker: exec --privileged gives every capability; the container's seccomp
        # filter and no_new_privs stay)
        process.become(ident, keep_caps=keep, privileged=privileged,
                       no_new_privs=spec.no_new_privs, seccomp=bpf)
        if not privileged:
            caps.limit_to(keep)
        # the caller's terminal (or stdin) never reaches the child: with -t it gets its own
        # pty from the container's devpts, without -i it reads /dev/null
        for i in ((0, 1, 2) if tty_sock is not None else () if es.stdin_open else (0,)):
            os.dup2(null, i)
        os.close(null)
        child = os.fork()
        if child == 0:
            step = "prepare process"
            os.setsid()
            if tty_sock is not None:
                step = "open a pty in the container"
                m, slave = pty.open_pty()
                fcntl.ioctl(slave, TIOCSCTTY, 0)
                for i in (0, 1, 2):
                    os.dup2(slave, i)
                os.close(slave)
                pty.send_fd(tty_sock, m)
                os.close(m)
                tty_sock.recv(1)  # the caller has set the window size
                tty_sock.close()
            process.reset_signals()
            process.execute(list(es.argv), process.with_home(env, ident.home), err_w)
        os.close(err_w)
        if tty_sock is not None:
            tty_sock.close()
        _, status = os.waitpid(child, 0)
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code
        if status_fd >= 0:
            os.write(status_fd, f"{code}\n".encode())
        os._exit(code)
    except KernelError as e:
        process.report(err_w, step, e.errno, e.path, e.message, 125)
    except OSError as e:
        process.report(err_w, step, e.errno or 0, e.filename or "", f"{step}: {e.strerror}", 125)
    except Exception as e:  # noqa: BLE001
        process.report(err_w, step, 0, "", f"{step}: {e}", 125)
