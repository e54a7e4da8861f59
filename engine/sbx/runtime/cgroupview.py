"""The container's view of its own cgroup: a cgroup namespace and /sys/fs/cgroup, read-only.

Docker (runc) gives every container on cgroup v2 a cgroup namespace whose root is the
container's cgroup, and mounts the cgroup file system read-only at /sys/fs/cgroup, so
programs that size themselves from their limits (the JVM, mongod, nproc-like helpers)
read ``memory.max`` there and ``/proc/self/cgroup`` shows ``0::/``.  sbx does the same on
v2 and on v1 (where Docker's default is still the host's namespace):

- **v2** (cgroup2 on /sys/fs/cgroup): a cgroup2 mount there, inside the new namespace.
- **v1 / hybrid**: a read-only tmpfs at /sys/fs/cgroup holding one directory per host
  hierarchy (the basename of its mount point: ``memory``, ``cpu,cpuacct``, ``systemd``,
  ``unified``), each a mount of that hierarchy (the same options, so the kernel reuses the
  host's hierarchy) inside the namespace, plus the symlinks Docker shows (``cpu ->
  cpu,cpuacct``).
- ``--cgroupns host``: no namespace; each directory is a read-only bind of the
  container's own cgroup (never the host's whole tree, never writable): the host's
  hierarchy is bound there with the rootfs, and once init is in its cgroup a detached copy
  of that cgroup's directory (open_tree) replaces it.  No cgroup file system is mounted,
  so this works rootless too (a user namespace may not mount the host namespace's).
- ``--privileged``: the same, writable (as Docker).

The namespace must be made after the monitor moved init into the container's cgroup (its
root is the cgroup the unsharing process is in), while the rootfs is built before that, in
parallel with the cgroup's creation.  So the work is split in two (see init.py):
:func:`prepare` runs with the rest of the rootfs, before pivot_root (v1's tmpfs and its
directories); :func:`enter` runs after the monitor's "c", just before privileges are
dropped: ``unshare(CLONE_NEWCGROUP)`` and one mount per hierarchy on the directories
prepared earlier (mounting needs no write access to the read-only tmpfs or sysfs).

This module holds the plan (pure data, made by the launcher from the host's mountinfo)
and the two steps (kernel calls through ``sbx.linux``)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

CGROUP_ROOT = "/sys/fs/cgroup"
CGROUPNS_MODES = ("private", "host")


@dataclass(frozen=True)
class Hierarchy:
    """One cgroup hierarchy as the container sees it."""

    name: str                     # directory under /sys/fs/cgroup ("" for v2's root itself)
    fstype: str                   # "cgroup" (v1) or "cgroup2"
    options: str = ""             # mount data: "memory", "cpu,cpuacct", "name=systemd"
    host_mount: str = ""          # where the host mounts it (--cgroupns host binds from there)
    controllers: tuple[str, ...] = ()  # as /proc/self/cgroup names it (empty: the v2 line)

    @property
    def target(self) -> str:
        return f"{CGROUP_ROOT}/{self.name}" if self.name else CGROUP_ROOT


@dataclass(frozen=True)
class CgroupView:
    """What init mounts at /sys/fs/cgroup, and whether it unshares a cgroup namespace."""

    cgroupns: str = "private"
    hierarchies: tuple[Hierarchy, ...] = ()
    links: tuple[tuple[str, str], ...] = ()   # (name, target) under /sys/fs/cgroup (v1)
    writable: bool = False                    # --privileged

    @property
    def unified(self) -> bool:
        """Pure v2: the cgroup2 mount is /sys/fs/cgroup itself (no tmpfs)."""
        return any(not h.name for h in self.hierarchies)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | CgroupView | None) -> CgroupView:
        if data is None:
            return cls()
        if isinstance(data, CgroupView):
            return data
        hs = tuple(Hierarchy(h["name"], h["fstype"], h.get("options", ""), h.get("host_mount", ""),
                             tuple(h.get("controllers", ()))) for h in data.get("hierarchies", ()))
        return cls(data.get("cgroupns", "private"), hs,
                   tuple((str(a), str(b)) for a, b in data.get("links", ())),
                   bool(data.get("writable", False)))


def plan(mounts: Iterable[Any], *, cgroupns: str = "private", privileged: bool = False,
         root: str = CGROUP_ROOT) -> CgroupView:
    """The view for a host whose cgroup mounts under ``root`` are ``mounts``
    (:class:`sbx.cgroups.mode.CgroupMount`, as ``mounts_under`` lists them)."""
    hierarchies: list[Hierarchy] = []
    names: set[str] = set()
    seen: set[str] = set()
    for m in mounts:
        point = str(m.mount_point).rstrip("/") or "/"
        if m.is_v2 and point == root.rstrip("/"):
            return CgroupView(cgroupns, (Hierarchy("", "cgroup2", "", point, ()),), (), privileged)
        key = m.key
        name = os.path.basename(point)
        if key in seen or not name or name in names or point == root.rstrip("/"):
            continue
        seen.add(key)
        names.add(name)
        if m.is_v2:
            hierarchies.append(Hierarchy(name, "cgroup2", "", point, ()))
        else:
            hierarchies.append(Hierarchy(name, "cgroup", ",".join(m.subsystems), point,
                                         tuple(m.subsystems)))
    links = []
    for h in hierarchies:
        if "," not in h.name:
            continue
        for part in h.name.split(","):
            if part and part not in names:
                names.add(part)
                links.append((part, h.name))
    return CgroupView(cgroupns, tuple(hierarchies), tuple(links), privileged)


def own_paths(text: str) -> dict[frozenset[str], str]:
    """``/proc/self/cgroup`` as {controllers: path}; the v2 line under the empty set."""
    out: dict[frozenset[str], str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            out[frozenset(c for c in parts[1].split(",") if c)] = parts[2]
    return out


# -- the two steps in the container's init (kernel calls) ------------------------------

def _flags(view: CgroupView) -> int:
    from sbx.linux.consts import MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY

    return MS_NOSUID | MS_NODEV | MS_NOEXEC | (0 if view.writable else MS_RDONLY)


def prepare(root: str, view: CgroupView) -> None:
    """(before pivot_root, rootfs at ``root``) v1: the tmpfs at /sys/fs/cgroup with a
    directory per hierarchy and the symlinks, then made read-only; v2 mounts straight on
    sysfs's own /sys/fs/cgroup directory.  ``--cgroupns host``: each hierarchy of the host
    bound on its place for now (:func:`enter` swaps it for the container's own cgroup)."""
    from sbx.linux import syscalls as sc
    from sbx.linux.consts import MS_BIND, MS_RDONLY, MS_REMOUNT

    if not view.hierarchies:
        return
    base = os.path.join(root, CGROUP_ROOT.lstrip("/"))
    if view.unified and os.path.ismount(base):
        # the host's /sys was bound (rootless --network host): its cgroup2 mount is here,
        # and the kernel refuses the same file system again on its root (EBUSY): an empty
        # read-only tmpfs goes in between
        sc.mount("tmpfs", base, "tmpfs", _flags(view), "mode=755")
    if not view.unified:
        sc.mount("tmpfs", base, "tmpfs", _flags(view) & ~MS_RDONLY, "mode=755")
        for h in view.hierarchies:
            os.mkdir(os.path.join(base, h.name), 0o755)
        for name, target in view.links:
            os.symlink(target, os.path.join(base, name))
        if not view.writable:
            sc.mount("tmpfs", base, None, MS_REMOUNT | _flags(view), "mode=755")
    if view.cgroupns == "host":
        for h in view.hierarchies:
            sc.mount(h.host_mount, os.path.join(root, h.target.lstrip("/")), None, MS_BIND)


def enter(view: CgroupView, *, rootless: bool = False) -> None:
    """(after the monitor's "c", after pivot_root) The cgroup namespace and the mounts on
    /sys/fs/cgroup.  Raises KernelError naming the mount that failed."""
    if view.cgroupns == "host":
        _own_cgroup(view)
        return
    from sbx.errors import KernelError
    from sbx.linux import syscalls as sc
    from sbx.linux.consts import CLONE_NEWCGROUP

    sc.unshare(CLONE_NEWCGROUP)
    flags = _flags(view)
    for h in view.hierarchies:
        try:
            sc.mount("cgroup", h.target, h.fstype, flags, h.options or None)
        except KernelError as e:
            # Rootless on a v1 host: a hierarchy the user's namespace may not mount stays
            # an empty read-only directory (there is no cgroup of the container's in it).
            if not (rootless and h.fstype == "cgroup" and e.errno == 1):
                raise


def _own_cgroup(view: CgroupView) -> None:
    """``--cgroupns host``: the host's hierarchy bound by :func:`prepare` is replaced by
    a detached copy of the container's own cgroup directory in it (the one it is in now),
    read-only: it never sees or writes the host's tree (as runc's binds on v1)."""
    from sbx.linux import syscalls as sc
    from sbx.linux.consts import MNT_DETACH, MS_BIND, MS_REMOUNT

    with open("/proc/self/cgroup") as f:
        paths = own_paths(f.read())
    attr = sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV | sc.MOUNT_ATTR_NOEXEC
    if not view.writable:
        attr |= sc.MOUNT_ATTR_RDONLY
    for h in view.hierarchies:
        own = paths.get(frozenset(h.controllers), "/")
        fd = sc.open_tree(h.target + own.rstrip("/"))
        try:
            sc.umount2(h.target, MNT_DETACH)
            sc.move_mount(fd, h.target)
        finally:
            os.close(fd)
        # (a remount, not mount_setattr: open_tree/move_mount are 5.2+, mount_setattr 5.12+;
        # the MOUNT_ATTR_* values are the MS_* ones)
        sc.mount(None, h.target, None, MS_REMOUNT | MS_BIND | attr)
