"""The monitor: one small process per running container (like podman's conmon).

It is the container's parent: it creates the network and pid namespaces and the cgroup,
forks the container's init (init.py), then sits on one selector loop that copies the
container's output into the log (and to the attached terminal), relays published ports
(forwarder.py), and on the container's exit records the exit code, the finish time and
OOM kills, removes the cgroup, and (``--rm``) the container.  It outlives the ``sbx``
command that started it; it exits when the container does."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from dataclasses import dataclass
from typing import Any

from sbx.errors import SbxError
from sbx.linux import net, proc, pty, syscalls
from sbx.linux.consts import CLONE_NEWNET, CLONE_NEWPID, PR_SET_NAME
from sbx.runtime import forwarder, init, monitor_loop, outbound, process, userns_auto
from sbx.runtime.records import ContainerRecord, ContainerStore
from sbx.runtime.rootfs import RootfsPlan
from sbx.runtime.state import ContainerState, Status


@dataclass(frozen=True)
class MonitorJob:
    record: ContainerRecord
    plan: RootfsPlan
    attached: bool            # copy output to fds 1/2 (and fd 0 to the container with -i)
    status_fd: int            # messages to the launcher (JSON lines)
    resize_fd: int            # (attached -t) window sizes from the launcher, 8 bytes each; -1
    join_netns: str           # /proc/<pid>/ns/net for --network container:X, else ""
    output_fds: tuple[int, int] = (1, 2)  # (attached) where stdout and stderr go


def _send(fd: int, **msg: object) -> None:
    if fd < 0:
        return
    try:
        os.write(fd, (json.dumps(msg) + "\n").encode())
    except OSError:
        pass  # the launcher is gone (detached run): nobody listens


def main(job: MonitorJob, store: ContainerStore, cgroup: Any) -> None:
    """Runs in the monitor process; never returns.  ``cgroup`` is the container's
    (not yet created) cgroup manager, made by the launcher before the fork."""
    proc.forked_child()
    try:
        code = _run(job, store, cgroup)
    except BaseException as e:  # noqa: BLE001 - the monitor must never leave a traceback behind
        code = 125
        error = f"the container monitor failed: {type(e).__name__}: {e}"
        note_failure(store, job.record.id, e)
        try:  # keep the traceback (no --rm removal here): the launcher's error names it
            _wind_up(store, job.record, cgroup, code=255, error=error, remove=False)
        except BaseException as e2:  # noqa: BLE001
            note_failure(store, job.record.id, e2)
        _send(job.status_fd, ev="exited", code=255, oom=False, error=error)
    os._exit(code)


def note_failure(store: ContainerStore, cid: str, exc: BaseException) -> None:
    """Keep the traceback of an unexpected monitor failure next to the container's state
    (``monitor-error.log``), where ``sbx inspect``'s paths lead."""
    import traceback

    try:
        with open(store.files(cid).dir / "monitor-error.log", "a") as f:
            f.write("".join(traceback.format_exception(exc)))
    except OSError:
        pass


def _run(job: MonitorJob, store: ContainerStore, cgroup: Any) -> int:
    rec, spec = job.record, job.record.spec
    files = store.files(rec.id)
    try:
        syscalls.prctl(PR_SET_NAME, int.from_bytes(b"sbx-mon\0", "little"))
    except SbxError:
        pass
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    keep = {job.status_fd, job.resize_fd}
    if job.attached:
        keep |= {0, 1, 2, *job.output_fds}
    else:
        devnull = os.open(os.devnull, os.O_RDWR)
        for i in (0, 1, 2):
            os.dup2(devnull, i)
        os.close(devnull)
        keep |= {0, 1, 2}
    # inherited descriptors pointed at /dev/null, not freed: an inherited Python object
    # (a test's unclosed socket) would close a reused number under us when collected
    proc.release_fds(keep)

    cg = None
    nat = None  # --network with outbound access: the NAT (outbound.py), ours to end
    userns_fd = net_fd = -1  # --userns=auto (userns_auto.py)
    try:
        listeners = forwarder.listen(spec.ports) if spec.network == "private" else []
        if spec.outbound:  # forked while we are still in the host's network namespace
            nat = outbound.prepare(str(files.dir / "outbound.log"))
        if spec.uid_map:  # --userns=auto: the container's user namespace (and the network
            # namespace it owns), made by a helper; the monitor stays host root
            userns_fd, net_fd = userns_auto.create_namespace(
                spec.uid_map, spec.gid_map, with_net=spec.network in ("private", "none"))
        if net_fd >= 0:
            syscalls.setns(net_fd, CLONE_NEWNET, "the container's network namespace")
            os.close(net_fd)
            net.loopback_up()
        elif spec.network in ("private", "none"):
            syscalls.unshare(CLONE_NEWNET)
            net.loopback_up()
        elif job.join_netns:
            fd = os.open(job.join_netns, os.O_RDONLY)
            syscalls.setns(fd, CLONE_NEWNET, job.join_netns)
            os.close(fd)
        if nat is not None:  # it comes up while init builds the root; waited for below
            nat.go(os.getpid())
        if spec.pid_mode != "host":  # --pid host: the container sees the host's processes
            syscalls.unshare(CLONE_NEWPID)
    except SbxError as e:
        if nat is not None:
            nat.stop()
        _fail(store, rec, job, cg, step="prepare", detail=e.one_line(), code=125)
        return 125

    # stdio of the container
    tty_ours = tty_theirs = None
    if spec.tty:  # init opens the pty inside the container and sends us the master
        tty_ours, tty_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        devnull = os.open(os.devnull, os.O_RDWR)
        stdio = (devnull, devnull, devnull)
        outs = {}
        stdin_w = -1
    else:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        if spec.stdin_open:
            in_r, stdin_w = os.pipe()
        else:
            in_r, stdin_w = os.open(os.devnull, os.O_RDONLY), -1
        stdio = (in_r, out_w, err_w)
        outs = {out_r: "stdout", err_r: "stderr"}
    go_r, go_w = os.pipe()
    err_r2, err_w2 = os.pipe()

    pid = os.fork()
    if pid == 0:
        os.close(go_w)
        os.close(err_r2)
        extra = tuple(fd for fd in job.output_fds if fd > 2) if job.attached else ()
        for fd in (*outs, stdin_w, job.status_fd, job.resize_fd, *extra):
            if fd >= 0 and fd not in stdio:
                try:
                    os.close(fd)
                except OSError:
                    pass
        if tty_ours is not None:
            tty_ours.close()
        try:  # never back into the monitor's code: its failure handler would wind the
            # container up from inside it (and freeze its own cgroup on v1)
            init.main(init.ChildJob(spec, job.plan, stdio, tty_theirs, go_r, err_w2, cid=rec.id,
                                    userns_fd=userns_fd))
        finally:
            os._exit(125)
    if userns_fd >= 0:
        os.close(userns_fd)

    for fd in set(stdio) | {go_r, err_w2}:
        os.close(fd)
    if tty_theirs is not None:
        tty_theirs.close()
    # The child builds its rootfs while we create its cgroup and move it in (on cgroup v1
    # the first migration waits for an RCU grace period); it waits for "c" before it drops
    # privileges and execs, so nothing of the command runs outside the cgroup.
    os.write(go_w, b"g")
    pid_start = proc.start_time(pid)
    try:
        cg = cgroup
        cg.create(_resources(spec, job.plan))
        cg.add_pid(pid)
    except SbxError as e:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(go_w)
        early = _read_all(err_r2)  # init failed first (its pid left no cgroup to join)?
        if early:
            info = process.decode_report(early)
            _fail(store, rec, job, cg, **info)  # type: ignore[arg-type]
            return int(info.get("code", 125))  # type: ignore[call-overload]
        _fail(store, rec, job, cg, step="cgroup", detail=e.one_line(), code=125)
        return 125
    master = -1  # with -t: the container's pty, sized before the command runs
    if tty_ours is not None:
        master = pty.recv_fd(tty_ours)  # -1 if init failed first: its report follows
        tty_ours.close()
        if master >= 0:
            outs = {master: "stdout"}
            stdin_w = master if (spec.stdin_open and job.attached) else -1
        if master >= 0 and job.resize_fd >= 0:
            _initial_size(job.resize_fd, master)
    if nat is not None:
        try:
            nat.wait()
        except SbxError as e:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(go_w)
            _fail(store, rec, job, cg, step="network", detail=e.one_line(), code=125)
            return 125
    try:
        os.write(go_w, b"c")
    except BrokenPipeError:
        pass  # init failed in its setup before it read "c": its report follows
    os.close(go_w)
    report = _read_all(err_r2)
    os.close(err_r2)
    if report:
        os.waitpid(pid, 0)
        info = process.decode_report(report)
        _fail(store, rec, job, cg, **info)  # type: ignore[arg-type]
        return int(info.get("code", 125))  # type: ignore[call-overload]

    ports = tuple(hp for _, hp in listeners)
    started = time.time()
    store.update_state(rec.id, lambda st: st.starting(
        pid=pid, pid_start=pid_start, monitor_pid=os.getpid(),
        monitor_start=proc.start_time(os.getpid()), started_at=started, ports=ports))
    _send(job.status_fd, ev="started", pid=pid,
          ports=[[hp.container_port, hp.proto, hp.host_ip, hp.host_port] for hp in ports])
    lean = monitor_loop.LoopState(
        pid=pid, outs=outs, stdin_w=stdin_w, attached=job.attached, pty_master=master,
        resize_fd=job.resize_fd,
        listeners=[(s.fileno(), hp.container_port) for s, hp in listeners],
        log_path=str(files.log), status_fd=job.status_fd if job.attached else -1,
        cid=rec.id, root=str(store.layout.root), runroot=str(store.layout.runroot),
        out_fd=job.output_fds[0], err_fd=job.output_fds[1],
        nat=(nat.pid, nat.exit_fd) if nat is not None else (-1, -1))
    if not job.attached:
        os.close(job.status_fd)
        # Idle detached containers are the ones that last: trade this fat fork (the whole
        # launcher's heap) for a fresh, small interpreter that only relays and waits.
        monitor_loop.exec_lean(lean, [s for s, _ in listeners])
    code = monitor_loop.loop(lean, [s for s, _ in listeners])
    if nat is not None:
        nat.stop()
    finish(store, rec.id, cg, code, job.status_fd)
    return 0


def finish(store: ContainerStore, cid: str, cg: Any, code: int, status_fd: int) -> None:
    """After the container's init exited: OOM check, cgroup removal, the exit record,
    ``--rm``, and the word to an attached launcher."""
    oom = False
    try:
        oom = cg.oom_killed()
    except (SbxError, OSError):
        pass
    if oom and code == 0:
        code = 137
    finished = time.time()

    def _exit(st: ContainerState) -> ContainerState:
        return st.exited(exit_code=code, finished_at=finished, oom_killed=oom)

    try:
        store.update_state(cid, _exit)
        rec = store.load(cid)
        if rec.spec.auto_remove:
            store.delete_files(rec, measure=False, defer=True)
    except (SbxError, OSError) as e:
        note_failure(store, cid, e)
    _send(status_fd, ev="exited", code=code, oom=oom)
    try:  # after the word to the launcher: nobody waits for this part
        cg.destroy()
    except (SbxError, OSError) as e:
        note_failure(store, cid, e)
    store.sweep_removed(cid)


def _initial_size(resize_fd: int, master: int) -> None:
    import fcntl

    from sbx.linux.consts import TIOCSWINSZ

    os.set_blocking(resize_fd, False)
    try:
        data = os.read(resize_fd, 64)
    except BlockingIOError:
        data = b""
    os.set_blocking(resize_fd, True)
    if len(data) >= 8:
        try:
            fcntl.ioctl(master, TIOCSWINSZ, data[-8:])
        except OSError:
            pass


def _resources(spec, plan):  # type: ignore[no-untyped-def]
    """The cgroup's limits and device policy: Docker's allowlist plus the ``--device``
    nodes; none with ``--privileged`` (every device, as Docker)."""
    from sbx.cgroups import Resources
    from sbx.cgroups.devices import DEFAULT_RULES

    lim = spec.limits
    devices = None if spec.privileged else (*DEFAULT_RULES, *(n.rule() for n in plan.devices))
    return Resources(memory=lim.memory, memory_swap=lim.memory_swap, cpus=lim.cpus,
                     cpu_shares=lim.cpu_shares, pids=lim.pids, devices=devices)


def _read_all(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        b = os.read(fd, 65536)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def _fail(store: ContainerStore, rec: ContainerRecord, job: MonitorJob, cg: object, *,
          step: str = "", errno: int = 0, path: str = "", detail: str = "", code: int = 125) -> None:
    _wind_up(store, rec, cg, code=code, error=detail, remove=rec.spec.auto_remove)
    _send(job.status_fd, ev="error", step=step, errno=errno, path=path, detail=detail, code=code)


def _wind_up(store: ContainerStore, rec: ContainerRecord, cg: Any, *, code: int, error: str,
             remove: bool) -> None:
    """A start that failed: end what the container started and remove its cgroup, record
    it as exited with ``error`` (unless it already is), and with ``remove`` delete it."""
    if cg is not None:
        try:
            cg.destroy()  # kills what is left in it first
        except (SbxError, OSError):
            pass
    now = time.time()
    try:
        store.update_state(rec.id, lambda st: st if st.status is Status.EXITED else
                           st.exited(exit_code=code, finished_at=now, error=error))
        if remove:
            store.delete_files(rec)
    except (SbxError, OSError):
        pass
