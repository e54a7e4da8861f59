"""The monitor's steady state: one selector loop that copies the container's output into
its log (and to the attached terminal), feeds stdin, relays published ports, and notices
the container's exit.

It imports only the standard library and small sbx modules, because a detached monitor
``exec``s into a fresh interpreter running just this (``exec_lean``): an idle container
then costs a small Python process instead of a copy of the launcher's heap.  The exit
bookkeeping (cgroup, state, ``--rm``) is imported only when the container has exited."""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import time

from sbx.runtime import forwarder, logs

TIOCSWINSZ = 0x5414

READ = selectors.EVENT_READ


class LoopState:
    """What the loop needs, as plain data (it crosses an exec as JSON)."""

    __slots__ = ("pid", "outs", "stdin_w", "attached", "pty_master", "listeners", "log_path",
                 "status_fd", "cid", "root", "runroot", "out_fd", "err_fd", "resize_fd", "nat")

    def __init__(self, *, pid: int, outs: dict[int, str], stdin_w: int, attached: bool,
                 pty_master: int, listeners: list[tuple[int, int]], log_path: str,
                 status_fd: int, cid: str, root: str, runroot: str,
                 out_fd: int = 1, err_fd: int = 2, resize_fd: int = -1,
                 nat: tuple[int, int] = (-1, -1)) -> None:
        self.pid = pid
        self.outs = outs
        self.stdin_w = stdin_w
        self.attached = attached
        self.pty_master = pty_master
        self.listeners = listeners          # (socket fd, container port)
        self.log_path = log_path
        self.status_fd = status_fd
        self.cid = cid
        self.root = root
        self.runroot = runroot
        self.out_fd = out_fd                # (attached) where the container's output goes
        self.err_fd = err_fd
        self.resize_fd = resize_fd          # (attached -t) window sizes for the pty master
        self.nat = nat                      # the outbound NAT's (pid, exit fd), or (-1, -1)

    def to_argv(self) -> list[str]:
        """Plain words (no ``json`` needed on the other side of the exec)."""
        return [str(self.pid), ",".join(f"{fd}:{s}" for fd, s in self.outs.items()),
                str(self.stdin_w), "1" if self.attached else "0", str(self.pty_master),
                ",".join(f"{fd}:{port}" for fd, port in self.listeners), self.log_path,
                str(self.status_fd), self.cid, self.root, self.runroot, str(self.out_fd),
                str(self.err_fd), str(self.resize_fd), f"{self.nat[0]}:{self.nat[1]}"]

    @classmethod
    def from_argv(cls, a: list[str]) -> LoopState:
        def pairs(text: str) -> list[tuple[int, str]]:
            return [(int(x.split(":")[0]), x.split(":")[1]) for x in text.split(",") if x]

        return cls(pid=int(a[0]), outs=dict(pairs(a[1])), stdin_w=int(a[2]),
                   attached=a[3] == "1", pty_master=int(a[4]),
                   listeners=[(fd, int(p)) for fd, p in pairs(a[5])], log_path=a[6],
                   status_fd=int(a[7]), cid=a[8], root=a[9], runroot=a[10],
                   out_fd=int(a[11]), err_fd=int(a[12]), resize_fd=int(a[13]),
                   nat=(int(a[14].split(":")[0]), int(a[14].split(":")[1])))


def exec_lean(state: LoopState, listeners: list[socket.socket]) -> None:
    """Replace this process with a fresh interpreter running ``main`` (never returns on
    success; on failure the caller simply goes on with the loop in this process)."""
    keep = [*state.outs, state.stdin_w, state.pty_master, state.resize_fd, state.nat[1],
            *(s.fileno() for s in listeners)]
    for fd in keep:
        if fd >= 0:
            os.set_inheritable(fd, True)
    from sbx import fresh

    try:
        os.execv(sys.executable, fresh.argv("sbx.runtime.monitor_loop:main", *state.to_argv()))
    except OSError:
        return


def main(*args: str) -> None:
    """Entry point of the lean monitor after exec."""
    argv = list(args)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    code = 125
    try:
        state = LoopState.from_argv(argv)
        socks = [socket.socket(fileno=fd) for fd, _ in state.listeners]
        code = loop(state, socks)
        if state.nat[0] > 0:  # the outbound NAT ends with the container
            from sbx.runtime.outbound import end

            end(*state.nat)
        from sbx.layout import Layout
        from sbx.runtime.monitor import finish
        from sbx.runtime.records import ContainerStore

        store = ContainerStore(Layout(_path(state.root), _path(state.runroot)))
        from sbx.cgroups import open_manager

        finish(store, state.cid, open_manager(f"sbx/{state.cid}"), code, -1)
        code = 0
    except BaseException as e:  # noqa: BLE001 - never a traceback from a background monitor
        try:
            from pathlib import Path

            from sbx.layout import Layout
            from sbx.runtime.monitor import note_failure
            from sbx.runtime.records import ContainerStore

            note_failure(ContainerStore(Layout(Path(argv[9]), Path(argv[10]))), argv[8], e)
        except BaseException:  # noqa: BLE001
            pass
    os._exit(code)


def _path(p: str):  # type: ignore[no-untyped-def]
    from pathlib import Path

    return Path(p)


def loop(state: LoopState, listeners: list[socket.socket]) -> int:
    """Run until the container's init exits and its output is drained; its exit code."""
    sel = selectors.DefaultSelector()
    sig_r, sig_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(sig_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    sel.register(sig_r, READ, ("sig",))
    writer = logs.LogWriter(state.log_path)
    outs = dict(state.outs)
    for fd, stream in outs.items():
        os.set_blocking(fd, False)
        sel.register(fd, READ, ("out", stream))
    if state.attached and state.stdin_w >= 0:
        sel.register(0, READ, ("in",))
    if state.resize_fd >= 0 and state.pty_master >= 0:
        sel.register(state.resize_fd, READ, ("resize",))
    ports = [(s, port) for s, (_, port) in zip(listeners, state.listeners, strict=False)]
    fwd = forwarder.Forwarder(sel, ports) if ports else None
    code: int | None = None
    deadline = 0.0
    while True:
        if code is None:
            wpid, status = os.waitpid(state.pid, os.WNOHANG)
            if wpid == state.pid:
                code = os.waitstatus_to_exitcode(status)
                code = 128 - code if code < 0 else code
                if fwd:
                    fwd.close()
                    fwd = None
                deadline = time.monotonic() + 2.0
                try:
                    sel.unregister(0)
                except (KeyError, ValueError):
                    pass
        if code is not None and (not outs or time.monotonic() > deadline):
            break
        for key, events in sel.select(0.05 if code is not None else None):
            kind = key.data[0]
            if kind == "sig":
                try:
                    os.read(sig_r, 4096)
                except BlockingIOError:
                    pass
            elif kind == "out":
                fd = key.fd
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                except OSError:  # EIO: the pty's other side is closed
                    data = b""
                if not data:
                    sel.unregister(fd)
                    os.close(fd)
                    outs.pop(fd, None)
                    continue
                writer.write(key.data[1], data)
                if state.attached:
                    _write_all(state.out_fd if key.data[1] == "stdout" else state.err_fd, data)
            elif kind == "resize":
                data = os.read(state.resize_fd, 64)
                if not data:
                    sel.unregister(state.resize_fd)
                elif len(data) >= 8:
                    import fcntl

                    try:
                        fcntl.ioctl(state.pty_master, TIOCSWINSZ, data[-8:])
                    except OSError:
                        pass
            elif kind == "in":
                try:
                    data = os.read(0, 65536)
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(0)
                    if state.stdin_w != state.pty_master:
                        os.close(state.stdin_w)
                    continue
                _write_all(state.stdin_w, data)
            elif fwd is not None:
                fwd.handle(key.fileobj, key.data, events)  # type: ignore[arg-type]
    writer.close()
    return code


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            n = os.write(fd, view)
        except BlockingIOError:
            time.sleep(0.001)
            continue
        except OSError:
            return
        view = view[n:]
