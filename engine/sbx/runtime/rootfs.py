"""The container's filesystem, set up inside its new mount namespace (runs in the child,
before pivot_root): overlayfs of the image layers, /proc, /dev, /sys, /etc/hosts and
friends, user mounts, Docker's masked and read-only paths, then pivot_root.

Nothing here is visible on the host: the mount namespace dies with the container."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from sbx.linux import syscalls as sc
from sbx.linux.consts import (
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    MS_STRICTATIME,
)
from sbx.runtime.paths import secure_join
from sbx.runtime.spec import Mount

# moby oci/defaults.go
MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore", "/proc/keys",
    "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
    "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

DEVICES = (  # name, major, minor
    ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9),
    ("tty", 5, 0),
)
DEV_LINKS = (
    ("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx"), ("core", "/proc/kcore"),
)


@dataclass(frozen=True)
class RootfsPlan:
    rootfs: str                  # mount point (exists on the host, empty)
    layers_dir: str              # directory holding the layer dirs (for short relative paths)
    lower: tuple[str, ...]       # layer dirs, lowest first (absolute or relative to layers_dir)
    upper: str
    work: str
    etc_files: tuple[tuple[str, str], ...]   # (container path, host file) bind-mounted
    mounts: tuple[Mount, ...]
    read_only: bool
    workdir: str
    own_net: bool                # a new network namespace (sysfs can be mounted fresh)
    console: bool = False        # -t: make /dev/console (init binds its pty there)
    privileged: bool = False
    rootless: bool = False       # inside the user's namespace: overlay with userxattr,
                                 # device nodes bound from the host, devpts without gid=5
    driver: str = "overlay"      # or "fuse-overlayfs", "copy" (runtime/drivers.py)


class Step:
    """Names the setup step for errors that come back to the parent."""

    current = "start"
    path = ""


def _set(step: str, path: str = "") -> None:
    Step.current, Step.path = step, path


def _mkdirs(path: str, mode: int = 0o755) -> None:
    os.makedirs(path, mode=mode, exist_ok=True)


def _ensure_target(root: str, target: str, *, is_dir: bool) -> str:
    real = secure_join(root, target)
    if is_dir:
        _mkdirs(real)
    else:
        _mkdirs(os.path.dirname(real))
        if not os.path.lexists(real):
            with open(real, "a"):
                pass
    return real


def _copied(plan: RootfsPlan) -> None:
    """The copy driver: the image's layers copied into ``upper`` once (the container's
    whole root from then on), bound on the mount point."""
    done = os.path.join(plan.work, "populated")
    if not os.path.exists(done):
        from pathlib import Path

        from sbx.layers.flatten import flatten

        _set("copy the image's layers", plan.upper)
        flatten([Path(plan.layers_dir, p) for p in plan.lower], Path(plan.upper))
        with open(done, "w"):
            pass
    _set("bind the copied root", plan.rootfs)
    sc.mount(plan.upper, plan.rootfs, None, MS_BIND | MS_REC)


def _overlay(plan: RootfsPlan) -> None:
    if plan.driver == "copy":
        _copied(plan)
        return
    if plan.driver == "fuse-overlayfs":
        from sbx.runtime.drivers import fuse_mount

        _set("mount fuse-overlayfs", plan.rootfs)
        if not plan.lower:
            _mkdirs(plan.work + "-empty")
        fuse_mount([os.path.join(plan.layers_dir, p) for p in plan.lower] or [plan.work + "-empty"],
                   plan.upper, plan.work, plan.rootfs)
        return
    _set("mount overlay", plan.rootfs)
    os.chdir(plan.layers_dir)   # short relative lowerdirs keep the option under a page
    lower = ":".join(reversed(plan.lower)) if plan.lower else plan.work + "-empty"
    if not plan.lower:
        _mkdirs(lower)
    data = f"lowerdir={lower},upperdir={plan.upper},workdir={plan.work}"
    if plan.rootless:
        data += ",userxattr"
    sc.mount("overlay", plan.rootfs, "overlay", 0, data)
    os.chdir("/")


def _dev(root: str, console: bool, rootless: bool = False) -> None:
    dev = os.path.join(root, "dev")
    _set("mount /dev", dev)
    _mkdirs(dev)
    sc.mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k")
    for name, major, minor in DEVICES:
        path = os.path.join(dev, name)
        if rootless:  # no mknod in a user namespace: bind the host's node (as podman does)
            _set("bind", path)
            with open(path, "a"):
                pass
            sc.mount(f"/dev/{name}", path, None, MS_BIND)
            continue
        _set("mknod", path)
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(major, minor))
        os.chmod(path, 0o666)
    for name, target in DEV_LINKS:
        os.symlink(target, os.path.join(dev, name))
    pts = os.path.join(dev, "pts")
    _set("mount devpts", pts)
    os.mkdir(pts, 0o755)
    opts = "newinstance,ptmxmode=0666,mode=0620" + ("" if rootless and not _gid_mapped(5) else ",gid=5")
    sc.mount("devpts", pts, "devpts", MS_NOSUID | MS_NOEXEC, opts)
    shm = os.path.join(dev, "shm")
    _set("mount /dev/shm", shm)
    os.mkdir(shm, 0o1777)
    sc.mount("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k")
    mq = os.path.join(dev, "mqueue")
    _set("mount /dev/mqueue", mq)
    os.mkdir(mq, 0o755)
    sc.mount("mqueue", mq, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if console:
        cons = os.path.join(dev, "console")
        _set("create /dev/console", cons)
        with open(cons, "a"):
            pass


def _gid_mapped(gid: int) -> bool:
    try:
        with open("/proc/self/gid_map") as f:
            for line in f:
                a, _b, n = (int(x) for x in line.split())
                if a <= gid < a + n:
                    return True
    except (OSError, ValueError):
        return True
    return False


def _proc_sys(root: str, own_net: bool) -> None:
    p = os.path.join(root, "proc")
    _set("mount /proc", p)
    _mkdirs(p)
    sc.mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    s = os.path.join(root, "sys")
    _set("mount /sys", s)
    _mkdirs(s)
    flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY
    if own_net:
        sc.mount("sysfs", s, "sysfs", flags)
    else:  # sysfs belongs to the host's network namespace: bind it read-only
        sc.mount("/sys", s, None, MS_BIND | MS_REC)
        sc.mount(None, s, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _bind(source: str, real_target: str, read_only: bool, recursive: bool = True) -> None:
    sc.mount(source, real_target, None, MS_BIND | (MS_REC if recursive else 0))
    if read_only:
        sc.mount(None, real_target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def _user_mounts(root: str, mounts: tuple[Mount, ...]) -> None:
    for m in mounts:
        if m.type == "tmpfs":
            real = _ensure_target(root, m.target, is_dir=True)
            _set("mount tmpfs", m.target)
            flags = MS_NOSUID | MS_NODEV | (MS_RDONLY if m.read_only else 0)
            sc.mount("tmpfs", real, "tmpfs", flags, m.options or "mode=1777")
            continue
        _set(f"{m.type} mount {m.source} on", m.target)
        try:
            is_dir = stat.S_ISDIR(os.stat(m.source).st_mode)
        except FileNotFoundError:
            if m.type != "bind":
                raise
            _mkdirs(m.source)  # Docker creates a missing bind source as a directory
            is_dir = True
        real = _ensure_target(root, m.target, is_dir=is_dir)
        _bind(m.source, real, m.read_only)


def _mask(root: str) -> None:
    for path in MASKED_PATHS:
        real = secure_join(root, path)
        _set("mask", path)
        try:
            st = os.lstat(real)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode):
            sc.mount("tmpfs", real, "tmpfs", MS_RDONLY, None)
        else:
            sc.mount("/dev/null", real, None, MS_BIND)
    for path in READONLY_PATHS:
        real = secure_join(root, path)
        _set("read-only", path)
        if not os.path.lexists(real):
            continue
        sc.mount(real, real, None, MS_BIND | MS_REC)
        sc.mount(None, real, None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)


def _pivot(root: str) -> None:
    _set("pivot_root", root)
    os.chdir(root)
    sc.pivot_root(".", ".")
    sc.umount2(".", MNT_DETACH)
    os.chdir("/")


def setup(plan: RootfsPlan) -> None:
    """Build the container's root and pivot into it.  Raises KernelError/OSError; the
    current step is in ``Step`` for the error report."""
    _set("make / private")
    sc.mount(None, "/", None, MS_REC | MS_PRIVATE)
    _overlay(plan)
    root = plan.rootfs
    _proc_sys(root, plan.own_net)
    _dev(root, plan.console, plan.rootless)
    for target, host in plan.etc_files:
        _set("bind", target)
        real = _ensure_target(root, target, is_dir=False)
        _bind(host, real, False, recursive=False)
    _user_mounts(root, plan.mounts)
    _set("workdir", plan.workdir)
    _mkdirs(secure_join(root, plan.workdir))
    if not plan.privileged:
        _mask(root)
    if plan.read_only:
        _set("read-only rootfs", root)
        sc.mount(None, root, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    _pivot(root)
