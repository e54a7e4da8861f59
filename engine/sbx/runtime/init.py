"""The container's first process (child side of the launch ladder, see launcher.py).

It runs in a fork of the monitor, single-threaded: waits for the monitor's go (after the
cgroup join), enters new mount/uts/ipc namespaces, builds the rootfs, pivots, drops
privileges and execs the command; with ``--init`` it execs Docker's docker-init (a static
tini bound on /sbin/docker-init, see initbin.py), which runs the command, forwards signals
and reaps zombies.  It is non-dumpable from the fork on.  Any failure goes back over
``err_fd`` as JSON naming the step, errno and path, and the process exits 125/126/127."""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from typing import Any

from sbx.errors import KernelError
from sbx.linux import caps, keyring, pty, syscalls
from sbx.linux.consts import (
    CLONE_NEWIPC,
    CLONE_NEWNS,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    MS_BIND,
    PR_SET_DUMPABLE,
    TIOCSCTTY,
)
from sbx.runtime import cgroupview, initbin, process, rootfs, seccomp
from sbx.runtime.spec import ContainerSpec


@dataclass(frozen=True)
class ChildJob:
    spec: ContainerSpec
    plan: rootfs.RootfsPlan
    stdio: tuple[int, int, int]
    tty_sock: Any             # with -t: where the pty master goes (to the monitor), else None
    go_fd: int
    err_fd: int
    cid: str = ""             # the container's id (its session keyring's name)
    userns_fd: int = -1       # --userns=auto: the container's user namespace (userns_auto.py)


def main(job: ChildJob) -> None:
    """Never returns: execs the command or exits with a report."""
    try:
        _setup(job)
    except KernelError as e:
        process.report(job.err_fd, rootfs.Step.current, e.errno, e.path or rootfs.Step.path,
                       e.message, process.EXIT_SETUP)
    except OSError as e:
        process.report(job.err_fd, rootfs.Step.current, e.errno or 0,
                       e.filename or rootfs.Step.path, f"{rootfs.Step.current} {e.filename or rootfs.Step.path}: {e.strerror}",
                       process.EXIT_SETUP)
    except Exception as e:  # noqa: BLE001 - anything else still reaches the parent as text
        process.report(job.err_fd, rootfs.Step.current, 0, rootfs.Step.path,
                       f"{rootfs.Step.current}: {e}", process.EXIT_SETUP)
    os._exit(process.EXIT_SETUP)


def _setup(job: ChildJob) -> None:
    spec = job.spec
    rootfs.Step.current = "make the init non-dumpable"
    # pid 1 of the container from the fork on: nobody may ptrace it or read its /proc
    # files (root, mem, fds) while it still holds the host's privileges
    syscalls.prctl(PR_SET_DUMPABLE, 0)
    rootfs.Step.current = "wait for monitor"
    os.setsid()
    for i, fd in enumerate(job.stdio):
        if fd != i:
            os.dup2(fd, i)
    if os.read(job.go_fd, 1) != b"g":
        os._exit(process.EXIT_SETUP)  # the monitor gave up
    rootfs.Step.current, rootfs.Step.path = "join a session keyring", ""
    keyring.join_session_keyring(keyring.session_name(job.cid or spec.hostname),
                                 in_userns=job.plan.rootless)  # not the caller's keys
    rootfs.Step.current, rootfs.Step.path = "read the seccomp filter", job.plan.seccomp
    bpf = seccomp.load_file(job.plan.seccomp)  # a host path: read before pivot_root
    flags = CLONE_NEWNS | CLONE_NEWUTS
    if job.plan.ipc_donor:  # --ipc container:ID (a shareable donor)
        rootfs.Step.current, rootfs.Step.path = "join the donor's ipc namespace", job.plan.ipc_donor
        fd = os.open(f"{job.plan.ipc_donor}/ipc", os.O_RDONLY | os.O_CLOEXEC)
        try:
            syscalls.setns(fd, CLONE_NEWIPC, f"{job.plan.ipc_donor}/ipc")
        finally:
            os.close(fd)
    elif job.plan.ipc != "host":
        flags |= CLONE_NEWIPC
    rootfs.Step.current = "unshare"
    syscalls.unshare(flags)
    rootfs.Step.current = "sethostname"
    syscalls.sethostname(spec.hostname)
    rootfs.setup(job.plan, userns_fd=job.userns_fd)
    if job.tty_sock is not None:
        _terminal(job.tty_sock)
    rootfs.Step.current, rootfs.Step.path = "resolve user", spec.user
    ident = process.resolve_user(spec.user)
    env = process.with_home(list(spec.env), ident.home)
    rootfs.Step.current, rootfs.Step.path = "chdir", spec.workdir
    os.chdir(spec.workdir)
    rootfs.Step.current, rootfs.Step.path = "wait for cgroup", ""
    if os.read(job.go_fd, 1) != b"c":
        os._exit(process.EXIT_SETUP)  # joining the cgroup failed: the monitor reports it
    os.close(job.go_fd)
    # now in the container's cgroup: its namespace (rooted there) and /sys/fs/cgroup
    rootfs.Step.current, rootfs.Step.path = "mount the container's cgroup", "/sys/fs/cgroup"
    cgroupview.enter(job.plan.cgroup, rootless=job.plan.rootless)
    if job.userns_fd >= 0:
        _enter_userns(job)
    rootfs.Step.current, rootfs.Step.path = "drop privileges", ""
    keep = caps.container_set(spec.cap_add, spec.cap_drop)
    process.become(ident, keep_caps=keep, privileged=spec.privileged,
                   no_new_privs=spec.no_new_privs, seccomp=bpf)
    process.reset_signals()
    argv = initbin.argv(spec.argv) if spec.init else list(spec.argv)
    process.execute(argv, env, job.err_fd)


def _enter_userns(job: ChildJob) -> None:
    """``--userns=auto``, the last step before the user and capabilities: everything above
    was set up as host root (overlay with idmapped layers, /proc, /dev, /sys, binds);
    now join the container's user namespace (whose root is a high host id) and take new
    mount and uts namespaces owned by it (copies: the mounts come along, locked
    together), so its capabilities reach those namespaces and nothing of the host's.
    The ipc namespace is kept (a new one would lose the ``--sysctl`` values written in
    it and no longer match the /dev/mqueue mounted for it)."""
    if job.tty_sock is not None and os.isatty(0):  # its pty: root's, group tty (5), inside
        from sbx.runtime.userns_auto import root_ids

        uid, gid = root_ids(job.plan.uid_map, job.plan.gid_map)
        os.fchown(0, uid, gid + 5)
    rootfs.Step.current, rootfs.Step.path = "join the container's user namespace", ""
    syscalls.setns(job.userns_fd, CLONE_NEWUSER, "user")
    os.close(job.userns_fd)
    rootfs.Step.current = "unshare in the container's user namespace"
    syscalls.unshare(CLONE_NEWNS | CLONE_NEWUTS)


def _terminal(sock: Any) -> None:
    """With -t: a pty from the container's own devpts (so ``tty`` names /dev/pts/N), made
    the controlling terminal and stdio, bound on /dev/console; the master goes to the
    monitor, which relays it."""
    rootfs.Step.current, rootfs.Step.path = "open a pty", "/dev/ptmx"
    master, slave = pty.open_pty()
    fcntl.ioctl(slave, TIOCSCTTY, 0)
    for i in (0, 1, 2):
        os.dup2(slave, i)
    rootfs.Step.current, rootfs.Step.path = "bind /dev/console", "/dev/console"
    syscalls.mount(os.ttyname(slave), "/dev/console", None, MS_BIND)
    os.close(slave)
    pty.send_fd(sock, master)
    os.close(master)
    sock.close()

