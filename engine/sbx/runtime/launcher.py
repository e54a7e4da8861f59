"""Starting a container: the launcher's side of the setup ladder.

The launcher (the ``sbx`` command or the Python API, single-threaded at this point; a
threaded caller goes through ``forkserver``) forks the monitor, which starts a new session
and outlives the launcher (a monitor that exits while its launcher still runs is reaped
on the launcher's next start).  Messages flow child -> parent over pipes, one JSON line
each::

    launcher                       monitor                              init (container)
    fork ────────────────────────► setsid; listen on published ports
                                   unshare(NET) + lo up | setns(NET) | host
                                   unshare(PID)
                                   fork ──────────────────────────────► setsid, stdio
                                   write "g" on go pipe ──────────────► session keyring, read the filter,
                                                                        unshare(MNT|UTS|IPC), hostname,
                                   cgroup create + limits, add_pid      overlay, /proc /dev /sys, binds,
                                                                        masks, pivot_root (-t: pty sent up)
                                   write "c" on go pipe ──────────────► unshare(CGROUP), /sys/fs/cgroup mounts,
                                                                        seccomp, caps, user, [no_new_privs], execve
                                   err pipe EOF (CLOEXEC) ◄──────────── exec succeeded
                                   err pipe JSON {step,errno,...} ◄──── setup or exec failed
                                   state.json: running (pid + start time)
    read {"ev":"started"} ◄─────── or {"ev":"error", step, errno, path, detail, code}
                                   (or {"ev":"exited", error}: the monitor itself failed)
    (attached) {"ev":"exited"} ◄── container exited; state exited (--rm: removed); cgroup removed

An error on any rung comes back as ``ContainerSetupError`` (or 126/127 for exec) naming the
step, errno and path."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from sbx.errors import CommandNotExecutable, CommandNotFound, ContainerSetupError, SbxError
from sbx.rootless.idmap import current
from sbx.runtime import monitor
from sbx.runtime.records import ContainerRecord, ContainerStore
from sbx.runtime.rootfs import RootfsPlan
from sbx.runtime.spec import Mount
from sbx.runtime.state import HostPort


@dataclass
class Started:
    record: ContainerRecord
    pid: int
    ports: tuple[HostPort, ...]
    status_fd: int            # still open when attached: read wait_exit() from it
    resize_fd: int = -1       # (attached -t) write 8-byte window sizes here
    error: str = ""           # (attached) what went wrong in the monitor, if anything
    store: ContainerStore | None = None
    monitor_pid: int = -1     # (forked here) the monitor, our child
    reader: _Lines | None = None  # the status pipe's reader: it may already hold "exited"

    def wait_exit(self) -> int:
        """(attached) Block until the monitor reports the container's exit code."""
        # The reader that took "started" may have read "exited" with it (a command that ends
        # at once): its buffer must not be lost, or the exit would look unreported.
        reader = self.reader or _Lines(self.status_fd)
        while True:
            msg = reader.next()
            if msg is None:
                return self._exit_from_state()
            if msg.get("ev") == "exited":
                self.error = str(msg.get("error") or "")
                os.close(self.status_fd)
                _close(self.resize_fd)
                self.resize_fd = -1
                return int(msg.get("code", 255))


    def _exit_from_state(self) -> int:
        """The monitor went away without a word: take the exit it recorded, if any."""
        os.close(self.status_fd)
        _close(self.resize_fd)
        self.resize_fd = -1
        if self.store is not None:
            try:
                st = self.store.load(self.record.id).state
                if st.status.value == "exited" and not st.error.startswith("the container's processes vanished"):
                    return st.exit_code
            except SbxError:
                pass
        self.error = "the container monitor exited without reporting the exit code" + \
            _monitor_end(self.monitor_pid)
        return 255


class _Lines:
    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buf = b""

    def next(self) -> dict | None:
        while b"\n" not in self.buf:
            try:
                chunk = os.read(self.fd, 4096)
            except InterruptedError:
                continue
            if not chunk:
                return None
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)


def build_plan(store: ContainerStore, rec: ContainerRecord, layers_dir: Path,
               layer_paths: list[Path], mounts: tuple[Mount, ...], *,
               ipc_donor: str = "") -> RootfsPlan:
    files = store.files(rec.id)
    files.rootfs.mkdir(parents=True, exist_ok=True)
    lower = []
    for p in layer_paths:
        try:
            lower.append(str(p.relative_to(layers_dir)))
        except ValueError:
            lower.append(str(p))
    etc = []
    if not rec.spec.network.startswith("container:"):
        etc = [("/etc/hosts", str(files.hosts)), ("/etc/hostname", str(files.hostname)),
               ("/etc/resolv.conf", str(files.resolv))]
    else:
        etc = [("/etc/hostname", str(files.hostname)), ("/etc/hosts", str(files.hosts)),
               ("/etc/resolv.conf", str(files.resolv))]
    if rec.spec.init:  # Docker's docker-init: the host's static tini, bound read-only
        from sbx.runtime import initbin

        mounts = (*mounts, initbin.mount(initbin.find()))
    return RootfsPlan(
        rootfs=str(files.rootfs), layers_dir=str(layers_dir), lower=tuple(lower),
        upper=str(files.upper), work=str(files.work), etc_files=tuple(etc), mounts=mounts,
        read_only=rec.spec.read_only, workdir=rec.spec.workdir,
        own_net=rec.spec.network in ("private", "none"), privileged=rec.spec.privileged,
        rootless=current().rootless, driver=files.driver(),
        ipc=rec.spec.ipc_mode, ipc_donor=ipc_donor,
        seccomp=_seccomp_filter(rec, store), devices=_device_nodes(rec),
        uid_map=rec.spec.uid_map, gid_map=rec.spec.gid_map)


def _device_nodes(rec: ContainerRecord) -> tuple:  # type: ignore[type-arg]
    """The ``--device`` nodes as the host has them now (looked up at every start, as
    Docker does: a node may come and go, e.g. a USB device)."""
    if not rec.spec.devices:
        return ()
    from sbx.runtime.devicespec import resolve_all

    return resolve_all(rec.spec.devices)


def _seccomp_filter(rec: ContainerRecord, store: ContainerStore) -> str:
    """The container's compiled seccomp filter (cached; compiled on the first start)."""
    from sbx.runtime import seccomp

    return seccomp.prepare(rec.spec, store.layout.runroot)


def launch(store: ContainerStore, rec: ContainerRecord, plan: RootfsPlan, cgroup: object,
           *, attached: bool, join_netns: str = "",
           output_fds: tuple[int, int] = (1, 2)) -> Started:
    """Start the container's monitor; ``output_fds`` (attached only) receive its stdout
    and stderr instead of this process's fds 1 and 2."""
    status_r, status_w = os.pipe()
    resize_r = resize_w = -1
    monitor_pid = -1
    if rec.spec.tty:
        from dataclasses import replace

        plan = replace(plan, console=True)
        if attached:
            resize_r, resize_w = os.pipe()
            size = _winsize(0)
            if size:
                os.write(resize_w, size)
    job = monitor.MonitorJob(rec, plan, attached, status_w, resize_r, join_netns, output_fds)
    try:
        if threading.active_count() > 1:
            # Never fork a threaded process into namespaces: the fork server does it.
            from sbx.runtime.forkserver import ForkServer

            ForkServer.get().spawn(job, str(store.layout.root), str(store.layout.runroot))
        else:
            monitor_pid = _spawn_here(job, store, cgroup, status_r)
    finally:
        os.close(status_w)
        if resize_r >= 0:
            os.close(resize_r)
    reader = _Lines(status_r)
    msg = reader.next()
    if msg is None:
        os.close(status_r)
        _close(resize_w)
        raise ContainerSetupError("monitor", 0, "", "the container monitor exited before starting the container")
    if msg.get("ev") != "started":  # an error, or the monitor's own failure ("exited")
        os.close(status_r)
        _close(resize_w)
        raise _setup_error(msg, store.files(rec.id).dir)
    ports = tuple(HostPort(*p) for p in msg.get("ports", ()))
    if not attached:
        os.close(status_r)
        status_r = -1
    return Started(rec, int(msg["pid"]), ports, status_r, resize_w, store=store,
                   monitor_pid=monitor_pid, reader=reader if attached else None)


_MONITORS: set[int] = set()   # monitors forked by this process, reaped when they exit


def _monitor_end(pid: int) -> str:
    """How our child monitor ended (for the error when it said nothing): reaped here."""
    if pid <= 0:
        return ""
    try:
        done, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return ""
    _MONITORS.discard(pid)
    if os.WIFSIGNALED(status):
        import signal

        return f" (it was killed by {signal.Signals(os.WTERMSIG(status)).name})"
    return f" (it exited with status {os.waitstatus_to_exitcode(status)})"


def _reap_monitors() -> None:
    """Collect monitors of this process that have exited (they are zombies until then,
    which ``proc.is_alive`` already counts as gone)."""
    for pid in list(_MONITORS):
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _MONITORS.discard(pid)


def _spawn_here(job: monitor.MonitorJob, store: ContainerStore, cgroup: object, status_r: int) -> int:
    """Fork the monitor in a new session (the ladder's first rung).  It stays this
    process's child, reaped without blocking on later calls (a fork of a large process
    costs a millisecond or two: one instead of the classic double fork)."""
    _reap_monitors()
    mode = current()
    join_userns = mode.rootless and not mode.in_userns
    if join_userns:
        from sbx.rootless.userns import ensure, state_dir

        ensure(state_dir())
    pid = os.fork()
    if pid == 0:
        try:
            os.close(status_r)
            os.setsid()
            if join_userns:  # rootless, called from outside the user's namespace (the plugin)
                from sbx.rootless.userns import join

                join()
            monitor.main(job, store, cgroup)
        finally:
            os._exit(0)
    _MONITORS.add(pid)
    return pid


def _setup_error(msg: dict, state_dir: Path) -> SbxError:
    code = int(msg.get("code", 125))
    detail = str(msg.get("detail") or "")
    if msg.get("ev") == "exited":  # the monitor failed unexpectedly; it left a traceback
        return ContainerSetupError("monitor", 0, "", str(msg.get("error") or "the monitor failed"),
                                   hint=f"the traceback is in {state_dir / 'monitor-error.log'}")
    if msg.get("step") == "exec":
        cls = CommandNotFound if code == 127 else CommandNotExecutable
        return cls(f"failed to create task for container: {detail}",
                   hint="check the command and the image's PATH")
    return ContainerSetupError(str(msg.get("step", "")), int(msg.get("errno", 0)),
                               str(msg.get("path", "")), detail)


def _winsize(fd: int) -> bytes:
    """The terminal's size as the 8 bytes TIOCGWINSZ gives, or b"" if ``fd`` is no tty."""
    import fcntl

    from sbx.linux.consts import TIOCGWINSZ

    try:
        return fcntl.ioctl(fd, TIOCGWINSZ, b"\0" * 8)
    except OSError:
        return b""


def _close(fd: int) -> None:
    if fd >= 0:
        os.close(fd)
