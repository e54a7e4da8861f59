"""Control groups for containers: one interface, a v1, a v2 and a null implementation.

:func:`open_manager` is the single place that picks the implementation: it reads the
host's layout from mountinfo (:func:`detect_mode`) and returns a :class:`V2Manager` on a
unified host, a :class:`V1Manager` on a legacy or hybrid host (whose cgroup2 mount holds
no controllers worth using), and a :class:`NullCgroupManager` when no cgroup file system
is mounted or the cgroup root is not writable (no delegation, rootless).

Cgroup names are relative paths such as ``sbx/<container-id>``, resolved against the root
of each hierarchy (as Docker's ``cgroupfs`` driver does with ``/docker/<id>``), so any
process can reopen a container's cgroup from its name alone (``sbx rm`` from another
shell).  The shared ``sbx`` parent is kept between containers; each container's own
directory is removed by :meth:`CgroupManager.destroy`.

Both managers install the device policy of :mod:`sbx.cgroups.devices` (one allowlist):
v1 writes it to ``devices.allow``, v2 attaches it as a cgroup device eBPF program.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any, Protocol

from sbx.cgroups.fs import CgroupFileError, CgroupFiles, cgroup_relpath
from sbx.cgroups.mode import DEFAULT_ROOT, CgroupMode, detect_mode, mounts_under
from sbx.cgroups.null import NullCgroupManager
from sbx.cgroups.resources import Resources, shares_to_weight
from sbx.cgroups.v1 import V1Manager
from sbx.cgroups.v2 import V2Manager
from sbx.diag import get_logger
from sbx.errors import CgroupError

__all__ = [
    "CgroupFileError", "CgroupFiles", "CgroupManager", "CgroupMode", "NullCgroupManager",
    "Resources", "V1Manager", "V2Manager", "cgroup_info", "delegated_root", "detect_mode",
    "open_manager", "own_cgroup_v2",
    "shares_to_weight",
]

log = get_logger(__name__)


class CgroupManager(Protocol):
    """A container's cgroup(s): create with limits, join, inspect, kill, remove."""

    version: str
    """``"v1"``, ``"v2"`` or ``"none"``."""
    driver: str
    """``"cgroupfs"`` (``"none"`` for the null manager), shown by ``sbx info``."""
    name: str
    """The relative cgroup path, e.g. ``sbx/<container-id>``."""

    def create(self, resources: Resources) -> None:
        """Create the cgroup and its parents and write the limits.

        On v2, enables the needed controllers in ``cgroup.subtree_control`` from the root
        down.  Raises :class:`CgroupError` naming the file and errno (with a hint) on any
        failure, after removing what this call created.  Reusing an existing cgroup of the
        same name is allowed.
        """
        ...

    def add_pid(self, pid: int) -> None:
        """Move process ``pid`` into the cgroup in every hierarchy (``cgroup.procs``)."""
        ...

    def procs_files(self) -> list[Path]:
        """The ``cgroup.procs`` files a child writes its own pid (or ``0``) to before exec."""
        ...

    def pids(self) -> list[int]:
        """The processes currently in the cgroup (and its sub-cgroups), sorted."""
        ...

    def oom_killed(self) -> bool:
        """True if the kernel's OOM killer killed a process of this cgroup."""
        ...

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to every process in the cgroup without letting any fork away."""
        ...

    def destroy(self) -> None:
        """Kill leftovers, wait briefly, remove the cgroup everywhere; a no-op if gone."""
        ...

    def stats(self) -> dict[str, dict[str, int | None]]:
        """``{"memory": {"usage", "limit"}, "pids": {"current", "limit"},
        "cpu": {"usage_ns"}}``; None where unknown or unlimited."""
        ...

    def path_for_inspect(self) -> str:
        """The cgroup path as ``docker inspect`` would show it, e.g. ``/sbx/<id>``."""
        ...


def open_manager(name: str, *, root: Path = DEFAULT_ROOT, mode: CgroupMode | None = None,
                 mountinfo: str | None = None,
                 files: CgroupFiles | None = None) -> CgroupManager:
    """The manager for cgroup ``name`` on this host (nothing is created until ``create``).

    ``root``, ``mode`` and ``mountinfo`` override what is read from the running system,
    and ``files`` the file access layer (unit tests point them at a fake tree).
    """
    cgroup_relpath(name)
    if mode is None:
        try:
            mode = detect_mode(mountinfo, root)
        except CgroupError as exc:
            return NullCgroupManager(name, reason=exc.message)
    if mode is CgroupMode.V2:
        if not os.access(root, os.W_OK):
            own = own_cgroup_v2()
            base = delegated_root(root, own) if own else None
            if base is None:
                return NullCgroupManager(
                    name, reason=f"{root} is not writable and this process's cgroup "
                                 f"({own or 'unknown'}) is not in a subtree delegated to the user")
            return V2Manager(name, base, files=files, device_program=False)
        return V2Manager(name, root, files=files)
    mounts = mounts_under(root, mountinfo)
    if mode is CgroupMode.V1:
        mounts = [m for m in mounts if not m.is_v2]
    writable = [m for m in mounts if not m.is_v2 and os.access(m.mount_point, os.W_OK)]
    if mounts and not writable:
        return NullCgroupManager(
            name, reason=f"the cgroup v1 hierarchies under {root} are not writable "
                         "(no cgroup delegation)")
    return V1Manager.from_mounts(name, mounts, files=files)


def own_cgroup_v2(text: str | None = None) -> str:
    """This process's cgroup on the unified hierarchy (``0::/path`` of /proc/self/cgroup)."""
    if text is None:
        try:
            with open("/proc/self/cgroup") as f:
                text = f.read()
        except OSError:
            return ""
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:].strip()
    return ""


def delegated_root(root: Path, own: str, writable: Any = None) -> Path | None:
    """(rootless, v2) The top of the subtree delegated to this user that holds our own
    cgroup (systemd's ``user@UID.service``), where containers' cgroups go as
    ``<top>/sbx/<id>``; None when even our cgroup's parent is not ours.  The top, not the
    nearest writable ancestor, so that every shell of the user finds the same place."""
    def can_write(p: Path) -> bool:
        return os.access(p / "cgroup.procs", os.W_OK) and os.access(p / "cgroup.subtree_control", os.W_OK)

    check = writable or can_write
    parts = [p for p in own.strip("/").split("/") if p]
    best = None
    for i in range(len(parts) - 1, 0, -1):   # ancestors of our own cgroup, nearest first
        cand = root.joinpath(*parts[:i])
        if not check(cand):
            break
        best = cand
    return best


def cgroup_info(root: Path = DEFAULT_ROOT, *, mountinfo: str | None = None) -> dict[str, Any]:
    """What ``sbx info`` shows: ``{"version": "1"|"2"|"none", "mode", "driver", "controllers"}``."""
    try:
        mode = detect_mode(mountinfo, root)
    except CgroupError:
        return {"version": "none", "mode": "none", "driver": "none", "controllers": []}
    if mode is CgroupMode.V2:
        try:
            controllers = sorted((root / "cgroup.controllers").read_text().split())
        except OSError:
            controllers = []
        return {"version": "2", "mode": mode.value, "driver": "cgroupfs",
                "controllers": controllers}
    names = {s for m in mounts_under(root, mountinfo) for s in m.subsystems
             if not s.startswith("name=")}
    return {"version": "1", "mode": mode.value, "driver": "cgroupfs",
            "controllers": sorted(names)}
