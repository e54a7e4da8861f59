"""Which cgroup layout the host has (v1, hybrid or unified v2), read from mountinfo.

References: proc(5) ``/proc/[pid]/mountinfo``; cgroups(7) "CGROUPS VERSION 1" and
"CGROUPS VERSION 2"; systemd's "unified", "hybrid" and "legacy" hierarchy modes.

- **V2** (unified): a ``cgroup2`` file system is mounted at the cgroup root
  (``/sys/fs/cgroup``) and controllers are listed in its ``cgroup.controllers``.
- **V1** (legacy): one ``cgroup`` mount per hierarchy (``memory``, ``cpu,cpuacct``, the
  named ``name=systemd``...) under the root, and no ``cgroup2`` mount.
- **HYBRID**: the v1 hierarchies plus a ``cgroup2`` mount elsewhere (usually
  ``/sys/fs/cgroup/unified``) that holds no or almost no controllers; limits go through
  v1, and processes are also placed in the unified tree so that ``/proc/PID/cgroup`` is
  consistent.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from pathlib import Path

from sbx.errors import CgroupError
from sbx.linux.mountinfo import MountEntry
from sbx.linux.mountinfo import parse as mountinfo_parse

DEFAULT_ROOT = Path("/sys/fs/cgroup")
MOUNTINFO = Path("/proc/self/mountinfo")


class CgroupMode(enum.Enum):
    V1 = "v1"
    V2 = "v2"
    HYBRID = "hybrid"


@dataclass(frozen=True)
class CgroupMount:
    """One mounted cgroup hierarchy, as a line of mountinfo describes it."""

    mount_point: Path
    fstype: str
    """``cgroup`` (v1) or ``cgroup2``."""
    root: str
    """The path inside the hierarchy that is mounted (``/`` unless bind-mounted or in a cgroupns)."""
    subsystems: tuple[str, ...]
    """For v1: the controllers and the ``name=...`` of the hierarchy; empty for cgroup2."""

    @property
    def is_v2(self) -> bool:
        return self.fstype == "cgroup2"

    @property
    def key(self) -> str:
        """A stable name for the hierarchy: ``cpu,cpuacct``, ``name=systemd`` or ``unified``."""
        return ",".join(self.subsystems) if self.subsystems else "unified"


# Super options of a v1 cgroup mount that are not controllers.
_V1_OPTIONS = {"rw", "ro", "none", "seclabel", "noprefix", "clone_children", "xattr",
               "cpuset_v2_mode", "favordynmods"}


def _cgroup_mount(entry: MountEntry) -> CgroupMount | None:
    if entry.fstype not in ("cgroup", "cgroup2"):
        return None
    subsystems: tuple[str, ...] = ()
    if entry.fstype == "cgroup":
        subsystems = tuple(sorted(
            o for o in entry.super_options.split(",")
            if o.startswith("name=") or (o not in _V1_OPTIONS and "=" not in o)))
    return CgroupMount(mount_point=Path(entry.mount_point), fstype=entry.fstype,
                       root=entry.root, subsystems=subsystems)


def parse_cgroup_mounts(mountinfo: str) -> list[CgroupMount]:
    """Every ``cgroup``/``cgroup2`` mount in a mountinfo text, in order."""
    return [m for m in map(_cgroup_mount, mountinfo_parse(mountinfo)) if m is not None]


def read_mountinfo(mountinfo: str | None = None) -> str:
    """The given text, or this process's ``/proc/self/mountinfo``."""
    if mountinfo is not None:
        return mountinfo
    try:
        return MOUNTINFO.read_text()
    except OSError as exc:
        raise CgroupError(f"cannot read {MOUNTINFO}: {exc.strerror} (errno {exc.errno})",
                          hint="is /proc mounted?") from exc


def mounts_under(root: Path, mountinfo: str | None = None) -> list[CgroupMount]:
    """The visible cgroup mounts at or below ``root``.

    A later mount on the same point, or on a parent of it, hides earlier ones (as a tmpfs
    mounted over ``/sys/fs/cgroup`` hides what was there).  Results for a given mountinfo
    text are remembered (an Engine opens a manager per container start).
    """
    if mountinfo is None:
        return _mounts_under(root, read_mountinfo(None))
    return list(_mounts_under_cached(root, mountinfo))


@functools.lru_cache(maxsize=8)
def _mounts_under_cached(root: Path, mountinfo: str) -> tuple[CgroupMount, ...]:
    return tuple(_mounts_under(root, mountinfo))


def _mounts_under(root: Path, mountinfo: str) -> list[CgroupMount]:
    visible: dict[Path, CgroupMount] = {}
    for entry in mountinfo_parse(mountinfo):
        point = Path(entry.mount_point)
        for hidden in [p for p in visible if p == point or point in p.parents]:
            del visible[hidden]
        m = _cgroup_mount(entry)
        if m is not None and (point == root or root in point.parents):
            visible[point] = m
    return list(visible.values())


def detect_mode(mountinfo: str | None = None, root: Path = DEFAULT_ROOT) -> CgroupMode:
    """Tell the cgroup layout below ``root`` from mountinfo (this process's by default).

    Raises :class:`CgroupError` when no cgroup file system is mounted there at all.
    """
    mounts = mounts_under(root, mountinfo)
    if any(m.is_v2 and m.mount_point == root for m in mounts):
        return CgroupMode.V2
    v1 = [m for m in mounts if not m.is_v2]
    if v1:
        return CgroupMode.HYBRID if any(m.is_v2 for m in mounts) else CgroupMode.V1
    raise CgroupError(
        f"no cgroup file system is mounted at or below {root}",
        hint="mount cgroup2 on /sys/fs/cgroup (or run without resource limits)")
