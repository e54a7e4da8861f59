"""The cgroup v2 (unified hierarchy) manager: one directory per container, limits in its files.

Reference: the kernel's Documentation/admin-guide/cgroup-v2.rst ("Controlling
Controllers", "No Internal Process Constraint", the memory, cpu and pids interface files,
``cgroup.kill``, ``cgroup.freeze``).

- Containers live in leaf cgroups under a shared parent (``sbx/<id>``): controllers are
  enabled top-down in each ancestor's ``cgroup.subtree_control``, which the kernel allows
  only in cgroups without member processes (the root is exempt).  The leaf itself enables
  nothing, so the container's processes may live in it.
- A controller needed for a requested limit must be listed in the ancestor's
  ``cgroup.controllers``; when it is not (not delegated to us, or claimed by a v1
  hierarchy), :meth:`V2Manager.create` says which one and why instead of silently
  running without the limit.
- Device access control on v2 is an eBPF program (``BPF_PROG_TYPE_CGROUP_DEVICE``)
  attached to the container's cgroup with ``BPF_F_ALLOW_MULTI``, as runc and crun do:
  :mod:`sbx.cgroups.devices` compiles the same allowlist v1 writes to ``devices.allow``
  and :mod:`sbx.linux.bpf` loads and attaches it.  The attachment holds the program and
  the kernel frees both with the cgroup.  It needs no controller.  In a delegated
  subtree (rootless) no program is attached: loading one needs CAP_SYS_ADMIN (or
  CAP_BPF) in the initial user namespace, and a process in a user namespace cannot
  mknod a device node at all, so it can reach only the nodes bound from the host into
  its ``/dev`` (the same ones, opened with the user's own permissions).
"""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path

from sbx.cgroups.devices import assembled
from sbx.cgroups.fs import CgroupFileError, CgroupFiles, cgroup_relpath, remove_created
from sbx.cgroups.kill import signal_all, wait_empty, wait_for
from sbx.cgroups.mode import DEFAULT_ROOT
from sbx.cgroups.resources import CPU_PERIOD_US, Resources
from sbx.diag import get_logger
from sbx.errors import CgroupError, KernelError

log = get_logger(__name__)

#: Controllers enabled for the container's cgroup when available, limits or not (for stats).
OPTIONAL_CONTROLLERS = ("cpu", "io", "memory", "pids")


def required_controllers(resources: Resources) -> list[str]:
    """The v2 controllers without which the requested limits cannot be applied."""
    need = []
    if resources.cpus is not None or resources.cpu_shares is not None:
        need.append("cpu")
    if resources.memory is not None:
        need.append("memory")
    if resources.has_pids_limit():
        need.append("pids")
    return need


def _max(value: int | None) -> str:
    return "max" if value is None or value < 0 else str(value)


class V2Manager:
    """A container's cgroup on a unified (v2) hierarchy mounted at ``root``."""

    version = "v2"
    driver = "cgroupfs"

    def __init__(self, name: str, root: Path = DEFAULT_ROOT, *,
                 files: CgroupFiles | None = None, device_program: bool = True) -> None:
        self.name = str(cgroup_relpath(name))
        self.root = root
        self.path = root / self.name
        self.files = files or CgroupFiles()
        self.device_program = device_program
        """False in a delegated (rootless) subtree: no device program (see the module doc)."""

    def __repr__(self) -> str:
        return f"V2Manager({self.name!r}, root={str(self.root)!r})"

    # -- creation ---------------------------------------------------------------
    def create(self, resources: Resources) -> None:
        """Create the cgroup (and its parents), enable controllers, write the limits.

        Anything this call created is removed again if a later step fails.
        """
        need = required_controllers(resources)
        created: list[Path] = []
        try:
            self._make_tree(need, created)
            self._apply(resources)
            self._set_devices(resources)
        except BaseException:
            remove_created(self.files, created)
            raise

    def _make_tree(self, need: list[str], created: list[Path]) -> None:
        current = self.root
        parts = Path(self.name).parts
        for index, part in enumerate(parts):
            self._enable_controllers(current, need)
            child = current / part
            try:
                made = self.files.mkdir(child)
            except CgroupFileError as exc:
                # A concurrent destroy may remove an empty parent between two steps.
                if exc.errno != errno.ENOENT or index == 0:
                    raise
                made = self.files.mkdir(child)
            if made:
                created.append(child)
            current = child

    def _enable_controllers(self, cgroup: Path, need: list[str]) -> None:
        available = self.files.read(cgroup / "cgroup.controllers").split()
        missing = [c for c in need if c not in available]
        if missing:
            why = ("not enabled in the parent's cgroup.subtree_control (not delegated)"
                   if cgroup != self.root else
                   "not available in the root cgroup (in use by a cgroup v1 hierarchy?)")
            raise CgroupError(
                f"cgroup v2 controller {', '.join(missing)} needed for the requested limits "
                f"is missing in {cgroup / 'cgroup.controllers'}: {why}",
                hint="drop the limit, or delegate the controller (systemd Delegate=yes) or "
                     "unmount its v1 hierarchy")
        enabled = set(self.files.read(cgroup / "cgroup.subtree_control").split())
        control = cgroup / "cgroup.subtree_control"
        for ctrl in dict.fromkeys([*need, *OPTIONAL_CONTROLLERS]):
            if ctrl in enabled or ctrl not in available:
                continue
            try:
                self.files.write(control, f"+{ctrl}")
            except CgroupFileError as exc:
                if ctrl not in need:
                    log.debug("optional controller %s not enabled: %s", ctrl, exc)
                    continue
                if exc.errno == errno.EBUSY:
                    raise CgroupFileError(
                        f"write '+{ctrl}' to", control, exc.errno,
                        hint=f"{cgroup} has processes of its own, and cgroup v2 enables "
                             "controllers only for children of a cgroup without member "
                             "processes (the 'no internal processes' rule): move them "
                             "into a leaf cgroup") from exc
                raise

    def _apply(self, r: Resources) -> None:
        if r.memory is not None:
            self.files.write(self.path / "memory.max", r.memory)
            swap = self.path / "memory.swap.max"
            if self.files.exists(swap):
                self.files.write(swap, _max(r.swap_only()))
            elif r.memory_swap not in (None, r.memory):
                log.warning("no swap accounting (%s missing): memory_swap ignored", swap)
        quota = r.cpu_quota_us()
        if quota is not None:
            self.files.write(self.path / "cpu.max", f"{quota} {CPU_PERIOD_US}")
        weight = r.cpu_weight()
        if weight is not None:
            self.files.write(self.path / "cpu.weight", weight)
        if r.has_pids_limit():
            self.files.write(self.path / "pids.max", _max(r.pids))

    def _set_devices(self, r: Resources) -> None:
        """Attach the device program for ``r.devices`` (none without a policy)."""
        if r.devices is None or not self.device_program:
            return
        try:
            self.files.set_device_program(self.path, assembled(r.devices))
        except KernelError as exc:
            if exc.errno in (errno.EPERM, errno.EACCES) and _in_user_namespace():
                # As runc: in a user namespace bpf(2) is refused, and mknod is too.
                log.debug("no device program on %s in a user namespace: %s", self.path, exc)
                return
            raise CgroupError(f"cannot install the device policy on {self.path}: "
                              f"{exc.message}", hint=exc.hint or
                              "cgroup v2 device programs need root (CAP_SYS_ADMIN) and a "
                              "kernel with CONFIG_CGROUP_BPF") from exc

    # -- membership ---------------------------------------------------------------
    def add_pid(self, pid: int) -> None:
        """Move ``pid`` (a whole process) into the container's cgroup."""
        self.files.write(self.path / "cgroup.procs", pid)

    def procs_files(self) -> list[Path]:
        """Files a process joins by writing its pid (or ``0`` for itself) to them."""
        return [self.path / "cgroup.procs"]

    def pids(self) -> list[int]:
        """Every process in the cgroup and its descendants."""
        pids: list[int] = []
        for cgroup in self._tree():
            pids.extend(self.files.read_pids(cgroup / "cgroup.procs"))
        return sorted(set(pids))

    def _tree(self) -> list[Path]:
        """The cgroup and its descendant cgroups, deepest first."""
        if not self.path.is_dir():
            return []
        subdirs = [p for p in self.path.rglob("*") if p.is_dir() and not p.is_symlink()]
        return sorted(subdirs, key=lambda p: len(p.parts), reverse=True) + [self.path]

    # -- status ---------------------------------------------------------------
    def oom_killed(self) -> bool:
        """True if the kernel OOM killer killed a process of this cgroup (``memory.events``)."""
        text = self.files.read_optional(self.path / "memory.events") or ""
        return _keyed(text).get("oom_kill", 0) > 0

    def stats(self) -> dict[str, dict[str, int | None]]:
        """Memory usage and limit, pid count and limit, CPU time in ns."""
        cpu = _keyed(self.files.read_optional(self.path / "cpu.stat") or "")
        return {
            "memory": {"usage": self._int("memory.current"), "limit": self._int("memory.max")},
            "pids": {"current": self._int("pids.current"), "limit": self._int("pids.max")},
            "cpu": {"usage_ns": cpu["usage_usec"] * 1000 if "usage_usec" in cpu else None},
        }

    def _int(self, file: str) -> int | None:
        text = (self.files.read_optional(self.path / file) or "").strip()
        return int(text) if text.lstrip("-").isdigit() else None

    def path_for_inspect(self) -> str:
        return "/" + self.name

    # -- teardown ---------------------------------------------------------------
    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        """Signal every process: ``cgroup.kill`` for SIGKILL when the kernel has it (5.14+),
        else freeze (5.2+), signal each pid, thaw."""
        if not self.path.is_dir():
            return
        kill_file = self.path / "cgroup.kill"
        if sig == signal.SIGKILL and self.files.exists(kill_file):
            self.files.write(kill_file, 1)
            return
        freeze = self.path / "cgroup.freeze"
        if not self.files.exists(freeze):
            signal_all(self.pids, sig)
            return
        self.files.write(freeze, 1)
        try:
            wait_for(self._frozen, 1.0)
            signal_all(self.pids, sig)
        finally:
            self.files.write(freeze, 0)

    def _frozen(self) -> bool:
        events = _keyed(self.files.read_optional(self.path / "cgroup.events") or "")
        return events.get("frozen", 1) == 1

    def destroy(self) -> None:
        """Kill what is left, wait briefly for it to exit, remove the cgroup; idempotent."""
        try:
            os.rmdir(self.path)  # the common case: empty, no sub-cgroups
            return
        except FileNotFoundError:
            return
        except OSError:
            pass
        if self.pids():
            self.kill_all(signal.SIGKILL)
            if not wait_empty(self.pids, 2.0):
                signal_all(self.pids, signal.SIGKILL)
                wait_empty(self.pids, 1.0)
        for cgroup in self._tree():
            self.files.rmdir(cgroup)


def _in_user_namespace() -> bool:
    """True unless this process is in the initial user namespace (whose uid_map maps
    every id to itself), as runc's ``userns.RunningInUserNS``."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() != ["0", "0", "4294967295"]
    except OSError:
        return False


def _keyed(text: str) -> dict[str, int]:
    """Parse flat-keyed files such as ``memory.events`` and ``cpu.stat``."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out
