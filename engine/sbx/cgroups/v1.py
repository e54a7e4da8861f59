"""The cgroup v1 manager: the same relative path in every mounted hierarchy, limits per controller.

Reference: the kernel's Documentation/admin-guide/cgroup-v1/ (memory.rst, cpusets.rst,
devices.rst, freezer-subsystem.rst, pids.rst) and sched-bwc.rst for CFS bandwidth.

- The container's cgroup is created and joined in every mounted v1 hierarchy (memory,
  cpu/cpuacct, cpuset, pids, devices, freezer, blkio, the named ``name=systemd``...), and in
  the cgroup2 mount of a hybrid host, so the freezer can stop it as a whole and
  ``/proc/PID/cgroup`` shows the container's path everywhere.
- ``memory.limit_in_bytes`` and, with swap accounting, ``memory.memsw.limit_in_bytes`` (the
  kernel keeps memsw >= limit at all times, so the write order depends on the current
  value); ``memory.swappiness`` 0 when no swap is wanted.
- ``cpu.cfs_period_us``/``cpu.cfs_quota_us``, ``cpu.shares``, ``pids.max``.
- A new cpuset cgroup starts with empty ``cpuset.cpus``/``cpuset.mems`` and refuses tasks
  (ENOSPC) until they are filled: they are copied from the parent, at every level.
- ``devices``: deny everything, then allow the device policy's rules (Docker's list plus
  ``--device`` nodes, ``sbx.cgroups.devices``; the same list the v2 program is made of).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sbx.cgroups.fs import CgroupFileError, CgroupFiles, cgroup_relpath, remove_created
from sbx.cgroups.kill import signal_all, wait_empty, wait_for
from sbx.cgroups.mode import CgroupMount
from sbx.cgroups.resources import CPU_PERIOD_US, Resources
from sbx.diag import get_logger
from sbx.errors import CgroupError

log = get_logger(__name__)

#: memory.limit_in_bytes reads back as PAGE_COUNTER_MAX * page size when unlimited.
_UNLIMITED_FLOOR = 1 << 62


@dataclass(frozen=True)
class Hierarchy:
    """One mounted hierarchy and the container's directory in it."""

    key: str
    """``memory``, ``cpu,cpuacct``, ``name=systemd``, or ``unified`` for a hybrid cgroup2."""
    mount_point: Path
    subsystems: tuple[str, ...]

    def has(self, controller: str) -> bool:
        return controller in self.subsystems


class V1Manager:
    """A container's cgroups on a v1 (or hybrid) host."""

    version = "v1"
    driver = "cgroupfs"

    def __init__(self, name: str, hierarchies: Iterable[Hierarchy], *,
                 files: CgroupFiles | None = None) -> None:
        self.name = str(cgroup_relpath(name))
        self.hierarchies = list(hierarchies)
        self.files = files or CgroupFiles()
        if not any(h.subsystems for h in self.hierarchies):
            raise CgroupError("no cgroup v1 hierarchy is mounted",
                              hint="mount the v1 controllers under /sys/fs/cgroup")

    @classmethod
    def from_mounts(cls, name: str, mounts: Iterable[CgroupMount], *,
                    files: CgroupFiles | None = None) -> V1Manager:
        """One :class:`Hierarchy` per distinct mounted hierarchy (bind mounts counted once)."""
        seen: dict[str, Hierarchy] = {}
        for m in mounts:
            seen.setdefault(m.key, Hierarchy(m.key, m.mount_point, m.subsystems))
        return cls(name, seen.values(), files=files)

    def __repr__(self) -> str:
        return f"V1Manager({self.name!r}, {[h.key for h in self.hierarchies]})"

    def _dir(self, h: Hierarchy) -> Path:
        return h.mount_point / self.name

    def _controller(self, controller: str) -> Path | None:
        """The container's directory in the hierarchy holding ``controller``, if mounted."""
        for h in self.hierarchies:
            if h.has(controller):
                return self._dir(h)
        return None

    # -- creation ---------------------------------------------------------------
    def create(self, resources: Resources) -> None:
        """Create the cgroup in every hierarchy and write the limits.

        Anything this call created is removed again if a later step fails.
        """
        self._check_controllers(resources)
        created: list[Path] = []
        try:
            for h in self.hierarchies:
                self._make_dirs(h, created)
            self._apply(resources)
        except BaseException:
            remove_created(self.files, created)
            raise

    def _check_controllers(self, r: Resources) -> None:
        need = []
        if r.memory is not None:
            need.append("memory")
        if r.cpus is not None or r.cpu_shares is not None:
            need.append("cpu")
        if r.has_pids_limit():
            need.append("pids")
        missing = [c for c in need if self._controller(c) is None]
        if missing:
            raise CgroupError(
                f"cgroup v1 controller {', '.join(missing)} needed for the requested limits "
                "is not mounted",
                hint="mount it under /sys/fs/cgroup, or drop the limit")

    def _make_dirs(self, h: Hierarchy, created: list[Path]) -> None:
        current = h.mount_point
        for part in Path(self.name).parts:
            current = current / part
            if self.files.mkdir(current):
                created.append(current)
            if h.has("cpuset"):
                self._inherit_cpuset(current)

    def _inherit_cpuset(self, cgroup: Path) -> None:
        for file in ("cpuset.cpus", "cpuset.mems"):
            if not self.files.read(cgroup / file).strip():
                self.files.write(cgroup / file, self.files.read(cgroup.parent / file).strip())

    def _apply(self, r: Resources) -> None:
        memory = self._controller("memory")
        if memory is not None and r.memory is not None:
            self._set_memory(memory, r)
        cpu = self._controller("cpu")
        quota = r.cpu_quota_us()
        if cpu is not None and quota is not None:
            self.files.write(cpu / "cpu.cfs_period_us", CPU_PERIOD_US)
            self.files.write(cpu / "cpu.cfs_quota_us", quota)
        if cpu is not None and r.cpu_shares is not None:
            self.files.write(cpu / "cpu.shares", r.cpu_shares)
        pids = self._controller("pids")
        if pids is not None and r.has_pids_limit():
            self.files.write(pids / "pids.max", str(r.pids))
        devices = self._controller("devices")
        if devices is not None:
            self._set_devices(devices, r)

    def _set_devices(self, cgroup: Path, r: Resources) -> None:
        """Deny everything, then allow the policy's rules (``sbx.cgroups.devices``); no
        policy (``--privileged``): allow all, as a new cgroup inherits from ``sbx/``."""
        if r.devices is None:
            self.files.write(cgroup / "devices.allow", "a")
            return
        self.files.write(cgroup / "devices.deny", "a")
        for rule in r.devices:
            self.files.write(cgroup / "devices.allow", str(rule))

    def _set_memory(self, cgroup: Path, r: Resources) -> None:
        assert r.memory is not None
        limit_file = cgroup / "memory.limit_in_bytes"
        memsw_file = cgroup / "memory.memsw.limit_in_bytes"
        if not self.files.exists(memsw_file):
            if r.memory_swap not in (None, r.memory):
                log.warning("no swap accounting (%s missing): memory_swap ignored", memsw_file)
            self.files.write(limit_file, r.memory)
        else:
            memsw = r.memory if r.memory_swap is None else r.memory_swap
            current = int(self.files.read(limit_file).strip())
            # The kernel rejects memsw < limit (EINVAL) at every moment: raise memsw
            # first when it grows past the current limit, else lower the limit first.
            if memsw == -1 or current < memsw:
                self.files.write(memsw_file, memsw)
                self.files.write(limit_file, r.memory)
            else:
                self.files.write(limit_file, r.memory)
                self.files.write(memsw_file, memsw)
        if r.swap_only() == 0:
            swappiness = cgroup / "memory.swappiness"
            try:
                self.files.write(swappiness, 0)
            except CgroupFileError as exc:
                log.debug("memory.swappiness not set: %s", exc)

    # -- membership ---------------------------------------------------------------
    def add_pid(self, pid: int) -> None:
        """Move ``pid`` (a whole process) into the container's cgroup in every hierarchy."""
        for path in self.procs_files():
            self.files.write(path, pid)

    def procs_files(self) -> list[Path]:
        """Files a process joins by writing its pid (or ``0`` for itself) to them."""
        return [self._dir(h) / "cgroup.procs" for h in self.hierarchies]

    def pids(self) -> list[int]:
        """Every process in the container's cgroup (and sub-cgroups) in any hierarchy."""
        pids: set[int] = set()
        for h in self.hierarchies:
            for cgroup in self._tree(h):
                pids.update(self.files.read_pids(cgroup / "cgroup.procs"))
        return sorted(pids)

    def _try_rmdir_all(self) -> bool:
        """The common case after a container exits: every leaf is empty; one rmdir each."""
        for h in self.hierarchies:
            try:
                os.rmdir(self._dir(h))
            except FileNotFoundError:
                continue
            except OSError:
                return False
        return True

    def _tree(self, h: Hierarchy) -> list[Path]:
        """The container's cgroup in ``h`` and its descendants, deepest first."""
        top = self._dir(h)
        if not top.is_dir():
            return []
        subdirs = [p for p in top.rglob("*") if p.is_dir() and not p.is_symlink()]
        return sorted(subdirs, key=lambda p: len(p.parts), reverse=True) + [top]

    # -- status ---------------------------------------------------------------
    def oom_killed(self) -> bool:
        """True if the OOM killer hit this cgroup: ``oom_kill`` in ``memory.oom_control``
        (kernel 4.13+), else a non-zero ``memory.failcnt`` (the limit was hit)."""
        memory = self._controller("memory")
        if memory is None:
            return False
        control = self.files.read_optional(memory / "memory.oom_control") or ""
        for line in control.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value) > 0
        failcnt = (self.files.read_optional(memory / "memory.failcnt") or "0").strip()
        return failcnt.isdigit() and int(failcnt) > 0

    def stats(self) -> dict[str, dict[str, int | None]]:
        """Memory usage and limit, pid count and limit, CPU time in ns."""
        limit = self._int("memory", "memory.limit_in_bytes")
        pids_max = self._int("pids", "pids.max")
        return {
            "memory": {
                "usage": self._int("memory", "memory.usage_in_bytes"),
                "limit": None if limit is None or limit >= _UNLIMITED_FLOOR else limit,
            },
            "pids": {"current": self._int("pids", "pids.current"), "limit": pids_max},
            "cpu": {"usage_ns": self._int("cpuacct", "cpuacct.usage")},
        }

    def _int(self, controller: str, file: str) -> int | None:
        cgroup = self._controller(controller)
        if cgroup is None:
            return None
        text = (self.files.read_optional(cgroup / file) or "").strip()
        return int(text) if text.lstrip("-").isdigit() else None

    def path_for_inspect(self) -> str:
        return "/" + self.name

    # -- teardown ---------------------------------------------------------------
    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        """Freeze the cgroup, signal every process in it, thaw it (so none can fork away)."""
        freezer = self._controller("freezer")
        if freezer is None or not freezer.is_dir():
            signal_all(self.pids, sig)
            return
        state = freezer / "freezer.state"
        self.files.write(state, "FROZEN")
        try:
            if not wait_for(lambda: self.files.read(state).strip() == "FROZEN", 1.0):
                log.debug("%s still FREEZING after 1s; signalling anyway", state)
            signal_all(self.pids, sig)
        finally:
            self.files.write(state, "THAWED")

    def destroy(self) -> None:
        """Kill what is left, wait briefly, remove the cgroup in every hierarchy; idempotent."""
        if self._try_rmdir_all():
            return
        if self.pids():
            self.kill_all(signal.SIGKILL)
            if not wait_empty(self.pids, 2.0):
                signal_all(self.pids, signal.SIGKILL)
                wait_empty(self.pids, 1.0)
        failures: list[CgroupFileError] = []
        for h in self.hierarchies:
            for cgroup in self._tree(h):
                try:
                    self.files.rmdir(cgroup)
                except CgroupFileError as exc:
                    failures.append(exc)
        if failures:
            first = failures[0]
            if len(failures) > 1:
                raise CgroupFileError("remove cgroup", first.path, first.errno,
                                      hint=f"{len(failures)} hierarchies failed; {first.hint}")
            raise first
