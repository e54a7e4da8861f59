"""Container status and its legal moves (created -> running -> exited), and the persisted
state record.  State files are written atomically; a pid is always stored with its start
time so that a recycled pid is never taken for the container."""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any

from sbx.errors import IllegalState


class Status(enum.Enum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"
    REMOVING = "removing"
    DEAD = "dead"

    def can_start(self) -> bool:
        return self in (Status.CREATED, Status.EXITED)

    def can_kill(self) -> bool:
        return self is Status.RUNNING

    def can_exec(self) -> bool:
        return self is Status.RUNNING

    def can_remove(self, force: bool) -> bool:
        return force or self is not Status.RUNNING


@dataclass(frozen=True)
class HostPort:
    container_port: int
    proto: str
    host_ip: str
    host_port: int


@dataclass(frozen=True)
class ContainerState:
    status: Status = Status.CREATED
    pid: int = 0
    pid_start: int | None = None
    monitor_pid: int = 0
    monitor_start: int | None = None
    started_at: float = 0.0
    finished_at: float = 0.0
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    restart_count: int = 0
    ports: tuple[HostPort, ...] = ()

    def to_json(self) -> dict[str, Any]:
        # by hand: dataclasses.asdict deep-copies and is slow on the start path
        return {"status": self.status.value, "pid": self.pid, "pid_start": self.pid_start,
                "monitor_pid": self.monitor_pid, "monitor_start": self.monitor_start,
                "started_at": self.started_at, "finished_at": self.finished_at,
                "exit_code": self.exit_code, "oom_killed": self.oom_killed, "error": self.error,
                "restart_count": self.restart_count,
                "ports": [[p.container_port, p.proto, p.host_ip, p.host_port] for p in self.ports]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ContainerState:
        d = dict(d)
        d["status"] = Status(d.get("status", "created"))
        d["ports"] = tuple(HostPort(**p) if isinstance(p, dict) else HostPort(*p)
                           for p in d.get("ports", ()))
        return cls(**d)

    def starting(self, *, pid: int, pid_start: int | None, monitor_pid: int,
                 monitor_start: int | None, started_at: float,
                 ports: tuple[HostPort, ...]) -> ContainerState:
        if not self.status.can_start():
            raise IllegalState(f"cannot start a container that is {self.status.value}")
        return replace(self, status=Status.RUNNING, pid=pid, pid_start=pid_start,
                       monitor_pid=monitor_pid, monitor_start=monitor_start,
                       started_at=started_at, finished_at=0.0, exit_code=0,
                       oom_killed=False, error="", ports=ports)

    def exited(self, *, exit_code: int, finished_at: float, oom_killed: bool = False,
               error: str = "") -> ContainerState:
        return replace(self, status=Status.EXITED, exit_code=exit_code,
                       finished_at=finished_at, oom_killed=oom_killed, error=error,
                       pid=0, monitor_pid=0)
