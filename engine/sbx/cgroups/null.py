"""The manager used when no cgroup can be managed (no cgroupfs, no delegation, rootless).

It keeps the same interface so the runtime has no special case: processes are tracked by
the runtime itself, nothing is limited, and asking for a limit is an error that says why
limits are unavailable instead of silently running without them.
"""

from __future__ import annotations

import signal
from pathlib import Path

from sbx.cgroups.fs import cgroup_relpath
from sbx.cgroups.resources import Resources
from sbx.errors import CgroupError


class NullCgroupManager:
    """No cgroup at all: accounting, limits, OOM detection and kill-all are unavailable."""

    version = "none"
    driver = "none"

    def __init__(self, name: str, *, reason: str = "cgroups are disabled") -> None:
        self.name = str(cgroup_relpath(name))
        self.reason = reason

    def __repr__(self) -> str:
        return f"NullCgroupManager({self.name!r}, reason={self.reason!r})"

    def create(self, resources: Resources) -> None:
        """Accept an empty :class:`Resources`; refuse limits, naming the reason."""
        if not resources.is_empty():
            raise CgroupError(f"cannot apply resource limits: {self.reason}",
                              hint="run as root on a host with cgroups, or drop the limits")

    def add_pid(self, pid: int) -> None:
        return None

    def procs_files(self) -> list[Path]:
        return []

    def pids(self) -> list[int]:
        return []

    def oom_killed(self) -> bool:
        return False

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        return None

    def destroy(self) -> None:
        return None

    def stats(self) -> dict[str, dict[str, int | None]]:
        return {
            "memory": {"usage": None, "limit": None},
            "pids": {"current": None, "limit": None},
            "cpu": {"usage_ns": None},
        }

    def path_for_inspect(self) -> str:
        return ""
