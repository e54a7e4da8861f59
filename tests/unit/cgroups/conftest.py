"""A fake cgroup file system in tmp_path for the v1 and v2 managers' unit tests.

``FakeCgroupFiles`` behaves like cgroupfs where the managers depend on it: ``mkdir``
populates a new cgroup with the control files the kernel would create (for v2, only those
of the controllers enabled in the parent's ``cgroup.subtree_control``, and
``cgroup.controllers`` mirrors it), writes to ``cgroup.subtree_control`` add or remove
controllers instead of replacing the file, ``rmdir`` refuses a cgroup that still lists
processes (EBUSY), and errors can be injected per path.  Every write is recorded in order.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path

import pytest
from sbx.cgroups.fs import CgroupFileError, CgroupFiles

UNLIMITED = "9223372036854771712"

V1_FILES: dict[str, dict[str, str]] = {
    "memory": {
        "memory.limit_in_bytes": UNLIMITED, "memory.memsw.limit_in_bytes": UNLIMITED,
        "memory.swappiness": "60", "memory.usage_in_bytes": "0", "memory.failcnt": "0",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
    },
    "cpu": {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "-1", "cpu.shares": "1024"},
    "cpuacct": {"cpuacct.usage": "0"},
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm\n"},
    "freezer": {"freezer.state": "THAWED"},
    "blkio": {"blkio.weight": "500"},
}
V2_CORE = {"cgroup.procs": "", "cgroup.subtree_control": "", "cgroup.freeze": "0",
           "cgroup.kill": "", "cgroup.events": "populated 0\nfrozen 0\n",
           "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"}
V2_FILES: dict[str, dict[str, str]] = {
    "memory": {"memory.max": "max", "memory.swap.max": "max", "memory.current": "0",
               "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"},
    "cpu": {"cpu.max": "max 100000", "cpu.weight": "100"},
    "pids": {"pids.max": "max", "pids.current": "0"},
    "io": {"io.weight": "default 100"},
}


class FakeCgroupFiles(CgroupFiles):
    """cgroupfs semantics on regular files (see the module docstring)."""

    def __init__(self) -> None:
        self.writes: list[tuple[Path, str]] = []
        self.fail_write: dict[Path, int] = {}
        self.fail_rmdir: dict[Path, int] = {}
        self.v1_roots: dict[Path, tuple[str, ...]] = {}
        self.v2_roots: set[Path] = set()
        self.omit: set[str] = set()   # control files the "kernel" does not have
        self.device_programs: dict[Path, bytes] = {}   # v2: the program attached per cgroup

    # -- building the tree ------------------------------------------------------
    def add_v1(self, mount_point: Path, subsystems: tuple[str, ...], **root_files: str) -> None:
        mount_point.mkdir(parents=True)
        self.v1_roots[mount_point] = subsystems
        self._populate_v1(mount_point, subsystems)
        (mount_point / "cgroup.procs").write_text("1\n")
        for name, value in root_files.items():
            (mount_point / name.replace("__", ".")).write_text(value)

    def add_v2(self, root: Path, controllers: str) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.v2_roots.add(root)
        for name, value in V2_CORE.items():
            if name not in ("cgroup.kill", "cgroup.freeze", "cgroup.events"):  # not in root
                (root / name).write_text(value)
        (root / "cgroup.controllers").write_text(controllers + "\n")
        (root / "cgroup.procs").write_text("1\n")

    def _populate_v1(self, cgroup: Path, subsystems: tuple[str, ...]) -> None:
        files = {"cgroup.procs": "", "tasks": ""}
        for sub in subsystems:
            files.update(V1_FILES.get(sub, {}))
        for name, value in files.items():
            if name not in self.omit:
                (cgroup / name).write_text(value)

    def _populate_v2(self, cgroup: Path) -> None:
        enabled = (cgroup.parent / "cgroup.subtree_control").read_text().split()
        (cgroup / "cgroup.controllers").write_text(" ".join(enabled) + "\n")
        files = dict(V2_CORE)
        for ctrl in enabled:
            files.update(V2_FILES.get(ctrl, {}))
        for name, value in files.items():
            if name not in self.omit:
                (cgroup / name).write_text(value)

    # -- cgroupfs behaviour -----------------------------------------------------
    def write(self, path: Path, value: str | int) -> None:
        if path in self.fail_write:
            raise CgroupFileError(f"write {value!r} to", path, self.fail_write[path])
        if path.name == "cgroup.subtree_control" and path.exists():
            text = str(value)
            enabled = path.read_text().split()
            available = (path.parent / "cgroup.controllers").read_text().split()
            for tok in text.split():
                ctrl = tok[1:]
                if ctrl not in available:
                    raise CgroupFileError(f"write {value!r} to", path, errno.ENOENT)
                if tok[0] == "+" and ctrl not in enabled:
                    enabled.append(ctrl)
                elif tok[0] == "-" and ctrl in enabled:
                    enabled.remove(ctrl)
            super().write(path, " ".join(enabled))
        else:
            super().write(path, value)
        self.writes.append((path, str(value)))

    def set_device_program(self, cgroup: Path, code: bytes) -> None:
        if cgroup in self.fail_write:
            from sbx.errors import KernelError

            raise KernelError("bpf(BPF_PROG_LOAD)", self.fail_write[cgroup])
        self.device_programs[cgroup] = code

    def mkdir(self, path: Path) -> bool:
        made = super().mkdir(path)
        if made:
            for root, subsystems in self.v1_roots.items():
                if root in path.parents:
                    self._populate_v1(path, subsystems)
            if any(root in path.parents for root in self.v2_roots):
                self._populate_v2(path)
        return made

    def rmdir(self, path: Path, *, timeout: float = 2.0) -> None:
        if path in self.fail_rmdir:
            raise CgroupFileError("remove cgroup", path, self.fail_rmdir[path])
        if not path.is_dir():
            return
        if any(p.is_dir() for p in path.iterdir()) or self.read_pids(path / "cgroup.procs"):
            raise CgroupFileError("remove cgroup", path, errno.EBUSY)
        for child in path.iterdir():
            child.unlink()
        super().rmdir(path, timeout=timeout)

    # -- assertions -------------------------------------------------------------
    def written(self, path: Path) -> list[str]:
        """The values written to ``path``, in order."""
        return [value for p, value in self.writes if p == path]

    def order(self, *paths: Path) -> list[Path]:
        """The given paths in the order they were first written."""
        seen: list[Path] = []
        for p, _ in self.writes:
            if p in paths and p not in seen:
                seen.append(p)
        return seen


HYBRID_MOUNTS = [
    ("cpu,cpuacct", ("cpu", "cpuacct")),
    ("cpuset", ("cpuset",)),
    ("memory", ("memory",)),
    ("devices", ("devices",)),
    ("freezer", ("freezer",)),
    ("blkio", ("blkio",)),
    ("pids", ("pids",)),
    ("systemd", ("name=systemd",)),
]


def v1_mountinfo(root: Path, hierarchies: list[tuple[str, tuple[str, ...]]],
                 unified: bool) -> str:
    """A mountinfo text like a systemd legacy/hybrid host's, with mount points under root."""
    lines = [f"25 1 0:23 / {root} rw,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755"]
    for i, (dirname, subs) in enumerate(hierarchies):
        opts = ",".join(["rw", *subs]) if subs != ("name=systemd",) else \
            "rw,xattr,name=systemd"
        lines.append(f"{30 + i} 25 0:{30 + i} / {root / dirname} rw,nosuid,nodev,noexec,"
                     f"relatime shared:{10 + i} - cgroup cgroup {opts}")
    if unified:
        lines.append(f"29 25 0:26 / {root / 'unified'} rw,nosuid,nodev,noexec,relatime "
                     "shared:5 - cgroup2 cgroup2 rw,nsdelegate")
    return "\n".join(lines) + "\n"


@pytest.fixture
def fake_files() -> FakeCgroupFiles:
    return FakeCgroupFiles()


@pytest.fixture
def hybrid_tree(tmp_path: Path, fake_files: FakeCgroupFiles
                ) -> Callable[..., tuple[Path, str]]:
    """Build a hybrid (v1 + empty cgroup2) tree; returns (root, mountinfo)."""

    def build(hierarchies: list[tuple[str, tuple[str, ...]]] = HYBRID_MOUNTS,
              unified: bool = True) -> tuple[Path, str]:
        root = tmp_path / "cgroup"
        for dirname, subs in hierarchies:
            extra = {"cpuset__cpus": "0-3", "cpuset__mems": "0"} if "cpuset" in subs else {}
            fake_files.add_v1(root / dirname, subs, **extra)
        if unified:
            fake_files.add_v2(root / "unified", "")
        return root, v1_mountinfo(root, hierarchies, unified)

    return build


@pytest.fixture
def v2_root(tmp_path: Path, fake_files: FakeCgroupFiles) -> Path:
    """A unified root with the usual controllers available."""
    root = tmp_path / "cgroup2"
    fake_files.add_v2(root, "cpuset cpu io memory hugetlb pids rdma misc")
    return root
