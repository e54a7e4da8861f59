"""The container's filesystem, set up inside its new mount namespace (runs in the child,
before pivot_root): overlayfs of the image layers, /proc, /dev, /sys, /etc/hosts and
friends, user mounts, Docker's masked and read-only paths, then pivot_root.

Nothing here is visible on the host: the mount namespace dies with the container."""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from sbx.errors import KernelError
from sbx.linux import syscalls as sc
from sbx.linux.consts import (
    CLONE_NEWNS,
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
from sbx.runtime import cgroupview, idmapped
from sbx.runtime.cgroupview import CgroupView
from sbx.runtime.devicespec import DeviceNode
from sbx.runtime.paths import secure_join
from sbx.runtime.spec import Mount

AT_SYMLINK_NOFOLLOW = 0x100

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
    own_net: bool                # a new network namespace (--network private or none)
    console: bool = False        # -t: make /dev/console (init binds its pty there)
    privileged: bool = False
    rootless: bool = False       # inside the user's namespace: overlay with userxattr,
                                 # device nodes bound from the host, devpts without gid=5
    driver: str = "overlay"      # or "fuse-overlayfs", "copy" (runtime/drivers.py)
    ipc: str = "private"         # --ipc: /dev/shm is a tmpfs (private, shareable), none,
                                 # the host's (host) or the donor's (container:ID)
    ipc_donor: str = ""          # container:ID: the donor's /proc/<pid>/ns directory
    cgroup: CgroupView = field(default_factory=CgroupView)   # /sys/fs/cgroup (cgroupview.py)
    sysctls: tuple[tuple[str, str], ...] = ()  # (--sysctl, validated) written in /proc/sys
    devices: tuple[DeviceNode, ...] = ()  # --device nodes, found on the host (devicespec.py)
    seccomp: str = ""            # the compiled filter init loads before execve ("" none;
                                 # runtime/seccomp.py)
    uid_map: tuple[tuple[int, int, int], ...] = ()  # --userns=auto: the container's maps;
    gid_map: tuple[tuple[int, int, int], ...] = ()  # layers, volumes idmapped (idmapped.py)


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
    mq = os.path.join(dev, "mqueue")
    _set("mount /dev/mqueue", mq)
    os.mkdir(mq, 0o755)
    sc.mount("mqueue", mq, "mqueue", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    if console:
        cons = os.path.join(dev, "console")
        _set("create /dev/console", cons)
        with open(cons, "a"):
            pass


def _shm(root: str, ipc: str, donor: str) -> None:
    """/dev/shm by ``--ipc``, as Docker: a tmpfs of its own (private, shareable), none at
    all (none), the host's (host), or the donor's (container:ID)."""
    if ipc == "none":
        return
    shm = os.path.join(root, "dev", "shm")
    _set("mount /dev/shm", shm)
    os.mkdir(shm, 0o1777)
    if ipc == "host":
        sc.mount("/dev/shm", shm, None, MS_BIND | MS_REC)
    elif donor:
        fd = _donor_shm(donor)
        try:
            _set("attach the donor's /dev/shm", shm)
            sc.move_mount(fd, shm)
        finally:
            os.close(fd)
    else:
        sc.mount("shm", shm, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k")


def _donor_shm(ns_dir: str) -> int:
    """A detached copy of the donor container's /dev/shm mount.  A bind from another mount
    namespace is refused (EINVAL), so step into the donor's, clone its /dev/shm there
    (open_tree, the final component not followed: it resolves in the donor's root only),
    and step back into ours."""
    _set("take the donor's /dev/shm", f"{ns_dir}/mnt")
    own = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        theirs = os.open(f"{ns_dir}/mnt", os.O_RDONLY | os.O_CLOEXEC)
        try:
            sc.setns(theirs, CLONE_NEWNS, f"{ns_dir}/mnt")
        finally:
            os.close(theirs)
        try:
            return sc.open_tree("/dev/shm", sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC | AT_SYMLINK_NOFOLLOW)
        finally:
            sc.setns(own, CLONE_NEWNS, "/proc/self/ns/mnt")
    finally:
        os.close(own)


def _device_nodes(root: str, nodes: tuple[DeviceNode, ...], rootless: bool) -> None:
    """``--device`` nodes: made with the host node's type, numbers, mode and owner (as
    runc), or bound from the host in a user namespace (no mknod there); one already at
    the path (a default /dev node, an image's file) is replaced."""
    for node in nodes:
        path = secure_join(root, node.path)
        _set("--device", node.path)
        _mkdirs(os.path.dirname(path))
        if os.path.lexists(path):
            try:
                os.unlink(path)
            except OSError as exc:  # a bound default node (rootless): take it off first
                if exc.errno != errno.EBUSY:
                    raise
                sc.umount2(path, MNT_DETACH)
                os.unlink(path)
        if rootless:
            with open(path, "a"):
                pass
            sc.mount(node.host_path, path, None, MS_BIND)
            continue
        kind = stat.S_IFCHR if node.type == "c" else stat.S_IFBLK
        os.mknod(path, node.file_mode | kind, os.makedev(node.major, node.minor))
        os.chmod(path, node.file_mode)
        os.chown(path, node.uid, node.gid)


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


def _proc_sys(root: str, plan: RootfsPlan) -> None:
    p = os.path.join(root, "proc")
    _set("mount /proc", p)
    _mkdirs(p)
    try:
        sc.mount("proc", p, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    except KernelError as e:
        # rootless --pid host: the host's pid namespace belongs to the initial user
        # namespace, so no proc of it can be mounted here; bind the host's (as crun does)
        if not (plan.rootless and e.errno == errno.EPERM):
            raise
        _set("bind the host's /proc", p)
        sc.mount("/proc", p, None, MS_BIND | MS_REC)
    _sysctls(p, plan.sysctls)
    s = os.path.join(root, "sys")
    _set("mount /sys", s)
    _mkdirs(s)
    _sysfs(s, plan.privileged)
    _set("mount the cgroup view", os.path.join(s, "fs/cgroup"))
    cgroupview.prepare(root, plan.cgroup)


def _sysfs(s: str, privileged: bool) -> None:
    """A fresh sysfs, read-only (as runc), on every network mode: never a bind of the
    host's /sys, whose submounts (the host's cgroup hierarchies) would come along.  Only
    where the kernel refuses a sysfs (a user namespace that does not own the network
    namespace: rootless ``--network host``) the host's is bound, read-only all the way
    down (mount_setattr AT_RECURSIVE); /sys/fs/cgroup is covered by the container's own
    view either way (cgroupview)."""
    import errno

    from sbx.errors import KernelError

    ro = 0 if privileged else MS_RDONLY
    try:
        sc.mount("sysfs", s, "sysfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | ro)
        return
    except KernelError as e:
        if e.errno != errno.EPERM:
            raise
    _set("bind the host's /sys (no sysfs of this network namespace may be mounted)", s)
    sc.mount("/sys", s, None, MS_BIND | MS_REC)
    _read_only_tree(s, sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV | sc.MOUNT_ATTR_NOEXEC,
                    read_only=not privileged)


def _sysctls(proc: str, sysctls: tuple[tuple[str, str], ...]) -> None:
    """``--sysctl`` values (validated by sysctls.py), written while /proc/sys is still
    writable, in the container's own namespaces."""
    from sbx.errors import KernelError
    from sbx.runtime.sysctls import proc_path

    for key, value in sysctls:
        where = "/proc/" + proc_path(key)
        _set(f"set sysctl {key}", where)
        if key == "kernel.domainname":  # the UTS namespace's own call (works rootless,
            sc.setdomainname(value)     # where /proc/sys/kernel/domainname is not writable)
            continue
        try:
            fd = os.open(os.path.join(proc, proc_path(key)), os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as e:
            raise KernelError(f"set sysctl {key}={value}", e.errno or 0, where,
                              hint="check the key and its value (sysctl(8))") from None


def _bind(source: str, real_target: str, read_only: bool, recursive: bool = True) -> None:
    sc.mount(source, real_target, None, MS_BIND | (MS_REC if recursive else 0))
    if read_only:
        if recursive:  # ``:ro`` covers the submounts of the source too
            _read_only_tree(real_target)
        else:
            sc.mount(None, real_target, None, MS_REMOUNT | MS_BIND | MS_RDONLY)


def _read_only_tree(path: str, attr: int = 0, *, read_only: bool = True) -> None:
    """Make the mount at ``path`` and every mount below it read-only (plus ``attr``,
    MOUNT_ATTR_* flags) in one call, leaving their other flags (a user namespace's locked
    nosuid/nodev) alone.  Kernels before 5.12 (no mount_setattr): each mount listed below
    ``path`` in mountinfo is remounted instead."""
    import errno

    from sbx.errors import KernelError

    attr |= sc.MOUNT_ATTR_RDONLY if read_only else 0
    try:
        sc.mount_setattr(path, attr, recursive=True)
        return
    except KernelError as e:
        if e.errno != errno.ENOSYS:
            raise
    from sbx.linux import mountinfo

    real = os.path.realpath(path)
    points = [m.mount_point for m in mountinfo.read()
              if m.mount_point == real or m.mount_point.startswith(real.rstrip("/") + "/")]
    for point in dict.fromkeys(points):   # MOUNT_ATTR_{RDONLY,NOSUID,NODEV,NOEXEC} == MS_*
        sc.mount(None, point, None, MS_REMOUNT | MS_BIND | attr)


def _user_mounts(root: str, mounts: tuple[Mount, ...], userns_fd: int = -1,
                 ids: tuple[int, int] | None = None) -> None:
    for m in mounts:
        if m.type == "tmpfs":
            real = _ensure_target(root, m.target, is_dir=True)
            _set("mount tmpfs", m.target)
            flags = MS_NOSUID | MS_NODEV | (MS_RDONLY if m.read_only else 0)
            opts = m.options or "mode=1777"
            if ids is not None:  # --userns=auto: its root directory is the container root's
                opts = idmapped.tmpfs_options(opts, ids)
            sc.mount("tmpfs", real, "tmpfs", flags, opts)
            continue
        _set(f"{m.type} mount {m.source} on", m.target)
        try:
            is_dir = stat.S_ISDIR(os.stat(m.source).st_mode)
        except FileNotFoundError:
            if m.type != "bind":
                raise
            _mkdirs(m.source)  # Docker creates a missing bind source as a directory
            if ids is not None and not idmapped.wanted(m.type, m.options):
                os.chown(m.source, *ids)  # (--userns=auto) its root's, as Docker's remap
            is_dir = True
        real = _ensure_target(root, m.target, is_dir=is_dir)
        if userns_fd >= 0 and idmapped.wanted(m.type, m.options):
            _set(f"idmapped {m.type} mount {m.source} on", m.target)
            idmapped.attach(m.source, real, userns_fd, read_only=m.read_only, recursive=True)
            continue
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
        _read_only_tree(real, sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV | sc.MOUNT_ATTR_NOEXEC)


def _idmapped_layers(plan: RootfsPlan, userns_fd: int, ids: tuple[int, int]) -> None:
    """``--userns=auto``: the image's layers seen through the container's id map, and a
    fresh upper directory owned by its root (idmapped.py says why not idmapped)."""
    if plan.driver != "overlay":
        return
    _set("idmap the image's layers", plan.layers_dir)
    idmapped.layers(plan.layers_dir, plan.lower, userns_fd)
    _set("give the writable layer to the container's root", plan.upper)
    idmapped.own(plan.upper, ids)


def _pivot(root: str) -> None:
    _set("pivot_root", root)
    os.chdir(root)
    sc.pivot_root(".", ".")
    sc.umount2(".", MNT_DETACH)
    os.chdir("/")


def setup(plan: RootfsPlan, userns_fd: int = -1) -> None:
    """Build the container's root and pivot into it.  Raises KernelError/OSError; the
    current step is in ``Step`` for the error report.  ``userns_fd`` (``--userns=auto``):
    the container's user namespace, whose root owns what sbx makes and through which the
    layers and volumes are seen (idmapped.py)."""
    _set("make / private")
    sc.mount(None, "/", None, MS_REC | MS_PRIVATE)
    ids = None
    if userns_fd >= 0:
        from sbx.runtime.userns_auto import root_ids

        ids = root_ids(plan.uid_map, plan.gid_map)
        _idmapped_layers(plan, userns_fd, ids)
    _overlay(plan)
    if userns_fd >= 0 and plan.driver == "copy":
        shifted = os.path.join(plan.work, "idshifted")
        if not os.path.exists(shifted):
            _set("give the copied root the container's ids", plan.upper)
            idmapped.shift_tree(plan.upper, plan.uid_map, plan.gid_map)
            with open(shifted, "w"):
                pass
    root = plan.rootfs
    _proc_sys(root, plan)
    _dev(root, plan.console, plan.rootless)
    _shm(root, plan.ipc, plan.ipc_donor)
    if ids is not None:
        _set("give /dev to the container's root", os.path.join(root, "dev"))
        idmapped.own_dev(os.path.join(root, "dev"), ids)
        for _target, host in plan.etc_files:
            idmapped.own(host, ids)
    _device_nodes(root, plan.devices, plan.rootless)
    for target, host in plan.etc_files:
        _set("bind", target)
        real = _ensure_target(root, target, is_dir=False)
        _bind(host, real, False, recursive=False)
    _user_mounts(root, plan.mounts, userns_fd, ids)
    _set("workdir", plan.workdir)
    _mkdirs(secure_join(root, plan.workdir))
    if not plan.privileged:
        _mask(root)
    if plan.read_only:
        _set("read-only rootfs", root)
        sc.mount(None, root, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
    _pivot(root)
