"""What the CLI shows of containers and images: ``inspect`` documents shaped like
Docker's, and the rows ``ps``/``images`` print (also the fields ``--format`` sees)."""

from __future__ import annotations

import shlex
import time
from typing import Any

from sbx.cli.format import (
    created_ago,
    format_rfc3339_nano,
    human_size,
    status_text,
    truncate_command,
)
from sbx.runtime.records import ContainerRecord
from sbx.runtime.state import Status


def _port_key(port: int, proto: str) -> str:
    return f"{port}/{proto}"


def ports_map(rec: ContainerRecord) -> dict[str, list[dict[str, str]] | None]:
    out: dict[str, list[dict[str, str]] | None] = {p: None for p in rec.spec.exposed_ports}
    if rec.state.status is Status.RUNNING:
        for hp in rec.state.ports:
            out.setdefault(_port_key(hp.container_port, hp.proto), [])
            lst = out[_port_key(hp.container_port, hp.proto)] or []
            lst.append({"HostIp": hp.host_ip, "HostPort": str(hp.host_port)})
            out[_port_key(hp.container_port, hp.proto)] = lst
    return out


def ports_text(rec: ContainerRecord) -> str:
    parts = []
    for key, binds in sorted(ports_map(rec).items()):
        if not binds:
            parts.append(key)
        for b in binds or ():
            parts.append(f"{b['HostIp']}:{b['HostPort']}->{key}")
    return ", ".join(parts)


def inspect_container(rec: ContainerRecord, files: Any) -> dict[str, Any]:
    s, st = rec.spec, rec.state
    running = st.status is Status.RUNNING
    lim = s.limits
    mounts = []
    for m in s.mounts:
        if m.type == "tmpfs":
            continue
        mounts.append({"Type": m.type, "Name": m.name or "", "Source": m.source,
                       "Destination": m.target, "Mode": "ro" if m.read_only else "",
                       "RW": not m.read_only, "Propagation": "rprivate" if m.type == "bind" else ""})
    port_bindings: dict[str, list[dict[str, str]]] = {}
    for p in s.ports:
        port_bindings.setdefault(_port_key(p.container_port, p.proto), []).append(
            {"HostIp": p.host_ip, "HostPort": str(p.host_port) if p.host_port else ""})
    return {
        "Id": rec.id,
        "Created": format_rfc3339_nano(rec.created),
        "Path": s.argv[0] if s.argv else "",
        "Args": list(s.argv[1:]),
        "State": {
            "Status": st.status.value,
            "Running": running,
            "Paused": False,
            "Restarting": False,
            "OOMKilled": st.oom_killed,
            "Dead": st.status is Status.DEAD,
            "Pid": st.pid if running else 0,
            "ExitCode": st.exit_code,
            "Error": st.error,
            "StartedAt": format_rfc3339_nano(st.started_at) if st.started_at else "0001-01-01T00:00:00Z",
            "FinishedAt": format_rfc3339_nano(st.finished_at) if st.finished_at else "0001-01-01T00:00:00Z",
        },
        "Image": s.image_id,
        "ResolvConfPath": str(files.resolv),
        "HostnamePath": str(files.hostname),
        "HostsPath": str(files.hosts),
        "LogPath": str(files.log),
        "Name": "/" + rec.name,
        "RestartCount": st.restart_count,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "Binds": [f"{m.source}:{m.target}{':ro' if m.read_only else ''}" for m in s.mounts if m.type == "bind"] or None,
            "NetworkMode": "default" if s.network == "private" else s.network,
            "PortBindings": port_bindings,
            "AutoRemove": s.auto_remove,
            "CapAdd": list(s.cap_add) or None,
            "CapDrop": list(s.cap_drop) or None,
            "Privileged": s.privileged,
            "Devices": [{"PathOnHost": d.path_on_host, "PathInContainer": d.path_in_container,
                         "CgroupPermissions": d.cgroup_permissions} for d in s.devices],
            "SecurityOpt": list(s.security_opt) or None,
            "ReadonlyRootfs": s.read_only,
            "Tmpfs": {m.target: m.options for m in s.mounts if m.type == "tmpfs"} or None,
            "Memory": lim.memory or 0,
            "MemorySwap": lim.memory_swap or 0,
            "NanoCpus": int((lim.cpus or 0) * 1e9),
            "CpuShares": lim.cpu_shares or 0,
            "PidsLimit": lim.pids,
            "Init": s.init,
            "CgroupnsMode": s.cgroupns,
            "Sysctls": dict(s.sysctls) or None,
            "PidMode": s.pid_mode,
            "IpcMode": s.ipc_mode,
            "UsernsMode": s.userns,
            "IDMappings": {"UidMap": [":".join(map(str, x)) for x in s.uid_map],
                           "GidMap": [":".join(map(str, x)) for x in s.gid_map]} if s.uid_map else None,
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": s.hostname,
            "User": s.user,
            "Tty": s.tty,
            "OpenStdin": s.stdin_open,
            "Env": list(s.env),
            "Cmd": list(s.cmd) or None,
            "Image": s.image,
            "WorkingDir": "" if s.workdir == "/" else s.workdir,
            "Entrypoint": list(s.entrypoint) or None,
            "Labels": s.labels_dict,
            "ExposedPorts": {p: {} for p in s.exposed_ports} or None,
            "StopSignal": s.stop_signal,
            "StopTimeout": s.stop_timeout,
            "Healthcheck": s.healthcheck,
        },
        "NetworkSettings": {
            "Ports": ports_map(rec),
            "SandboxKey": f"/proc/{st.pid}/ns/net" if running else "",
        },
    }


class ContainerRow:
    """The fields ``ps --format`` knows (Docker's names)."""

    def __init__(self, rec: ContainerRecord, *, trunc: bool = True, now: float | None = None) -> None:
        self._rec = rec
        self._trunc = trunc
        self._now = now or time.time()

    @property
    def ID(self) -> str:
        return self._rec.id[:12] if self._trunc else self._rec.id

    @property
    def Image(self) -> str:
        return self._rec.spec.image

    @property
    def Command(self) -> str:
        return truncate_command(" ".join(shlex.quote(a) if " " in a else a for a in self._rec.spec.argv),
                                self._trunc)

    @property
    def CreatedAt(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(self._rec.created))

    @property
    def RunningFor(self) -> str:
        return created_ago(self._rec.created, self._now)

    @property
    def Ports(self) -> str:
        return ports_text(self._rec)

    @property
    def State(self) -> str:
        return self._rec.state.status.value

    @property
    def Status(self) -> str:
        st = self._rec.state
        return status_text(st.status.value, st.started_at or None, st.finished_at or None,
                           st.exit_code, self._now)

    @property
    def Names(self) -> str:
        return self._rec.name

    @property
    def Labels(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self._rec.spec.labels)

    def Label(self, key: str) -> str:
        return self._rec.spec.labels_dict.get(key, "")

    @property
    def Mounts(self) -> str:
        return ",".join(m.source or m.target for m in self._rec.spec.mounts)

    @property
    def Networks(self) -> str:
        return self._rec.spec.network


PS_HEADERS = {"ID": "CONTAINER ID", "Image": "IMAGE", "Command": "COMMAND",
              "CreatedAt": "CREATED AT", "RunningFor": "CREATED", "Ports": "PORTS",
              "State": "STATE", "Status": "STATUS", "Names": "NAMES", "Labels": "LABELS",
              "Mounts": "MOUNTS", "Networks": "NETWORKS"}
PS_TABLE = "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"


def image_created(img: Any) -> float:
    """An image's creation time in seconds (its config's RFC 3339 ``created``)."""
    from sbx.cli.format import parse_timestamp

    return (parse_timestamp(img.created) if img.created else None) or 0.0


class ImageRow:
    def __init__(self, img: Any, repo: str, tag: str, *, trunc: bool = True,
                 now: float | None = None, digest: str = "<none>") -> None:
        self._img = img
        self.Repository = repo
        self.Tag = tag
        self.Digest = digest
        self._trunc = trunc
        self._now = now or time.time()

    @property
    def ID(self) -> str:
        return self._img.id.short if self._trunc else str(self._img.id)

    @property
    def CreatedSince(self) -> str:
        ts = image_created(self._img)
        return created_ago(ts, self._now) if ts else "N/A"

    @property
    def CreatedAt(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S +0000 UTC", time.gmtime(image_created(self._img)))

    @property
    def Size(self) -> str:
        return human_size(self._img.size)


IMAGES_HEADERS = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID",
                  "CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
                  "Digest": "DIGEST"}
IMAGES_TABLE = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
