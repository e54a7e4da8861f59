"""ContainerSpec: everything needed to run one container, as frozen data (stored as
``config.json`` in the container's directory).  ``from_image`` applies Docker's rules for
ENTRYPOINT/CMD/ENV/WORKDIR/USER from the image config and the run options."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sbx.errors import InvalidArgument
from sbx.runtime.envfile import merge_env

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
NETWORK_MODES = ("private", "none", "host")  # plus "container:<name|id>"


@dataclass(frozen=True)
class Mount:
    """A mount inside the container: ``bind`` (source is a host path), ``volume`` (source is
    a directory sbx manages) or ``tmpfs`` (options like ``size=64m,mode=1777``)."""

    type: str
    target: str
    source: str = ""
    read_only: bool = False
    options: str = ""
    name: str = ""


@dataclass(frozen=True)
class Port:
    container_port: int
    proto: str = "tcp"
    host_ip: str = "127.0.0.1"
    host_port: int = 0  # 0: a random free port, filled in when the container starts


@dataclass(frozen=True)
class Device:
    """``--device HOST[:CONTAINER[:PERMS]]``, Docker's ``DeviceMapping`` (devicespec.py)."""

    path_on_host: str
    path_in_container: str
    cgroup_permissions: str = "rwm"


@dataclass(frozen=True)
class Limits:
    memory: int | None = None
    memory_swap: int | None = None
    cpus: float | None = None
    cpu_shares: int | None = None
    pids: int | None = None

    def is_empty(self) -> bool:
        return all(getattr(self, f.name) is None for f in fields(self))


@dataclass(frozen=True)
class ContainerSpec:
    image: str                       # as the user named it ("bb", "redis:7")
    image_id: str                    # "sha256:<hex>"
    argv: tuple[str, ...]
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    workdir: str = "/"
    user: str = ""
    hostname: str = ""
    tty: bool = False
    stdin_open: bool = False
    mounts: tuple[Mount, ...] = ()
    ports: tuple[Port, ...] = ()
    exposed_ports: tuple[str, ...] = ()
    network: str = "private"
    outbound: bool = False           # private network with a user-space NAT out (outbound.py)
    limits: Limits = field(default_factory=Limits)
    read_only: bool = False
    init: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    stop_signal: str = "SIGTERM"
    stop_timeout: int | None = None
    auto_remove: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    healthcheck: dict[str, Any] | None = None
    devices: tuple[Device, ...] = ()  # --device (nodes made and allowed: devicespec.py)
    cgroupns: str = "private"        # its own cgroup namespace, or "host" (cgroupview.py)
    sysctls: tuple[tuple[str, str], ...] = ()  # --sysctl, namespaced keys only (sysctls.py)
    pid_mode: str = ""               # "" (its own pid namespace) or "host"
    ipc_mode: str = "private"        # private, shareable, none, host, container:<id>
    seccomp: str = ""                # "": Docker's default profile; "unconfined"; or a profile's JSON
    no_new_privs: bool = False       # --security-opt no-new-privileges (Docker's default: off)
    security_opt: tuple[str, ...] = ()  # HostConfig.SecurityOpt as Docker shows it
    userns: str = ""                 # --userns: "" (the host's) or "auto[:size=N]" (userns_auto.py)
    uid_map: tuple[tuple[int, int, int], ...] = ()  # (auto) (inside, outside, count), allocated
    gid_map: tuple[tuple[int, int, int], ...] = ()  # at create, released on rm

    @property
    def labels_dict(self) -> dict[str, str]:
        return dict(self.labels)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContainerSpec:
        d = dict(data)
        d["mounts"] = tuple(Mount(**m) for m in d.get("mounts", ()))
        d["ports"] = tuple(Port(**p) for p in d.get("ports", ()))
        d["devices"] = tuple(Device(**x) for x in d.get("devices", ()))
        d["limits"] = Limits(**d.get("limits", {}))
        d["labels"] = tuple(tuple(x) for x in d.get("labels", ()))
        d["sysctls"] = tuple((str(k), str(v)) for k, v in d.get("sysctls", ()))
        for k in ("uid_map", "gid_map"):
            d[k] = tuple(tuple(int(x) for x in line) for line in d.get(k, ()))
        for k in ("argv", "entrypoint", "cmd", "env", "exposed_ports", "cap_add", "cap_drop",
                  "security_opt"):
            d[k] = tuple(d.get(k, ()))
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)


@dataclass(frozen=True)
class RunOptions:
    """What the user asked for on top of the image (the flags of ``sbx run``/``create``)."""

    command: tuple[str, ...] = ()
    entrypoint: str | None = None       # None: the image's; "": none
    env: tuple[str, ...] = ()
    workdir: str | None = None
    user: str | None = None
    hostname: str | None = None
    tty: bool = False
    stdin_open: bool = False
    mounts: tuple[Mount, ...] = ()
    ports: tuple[Port, ...] = ()
    publish_all: bool = False
    network: str = "private"
    outbound: bool = False              # (private network only) outbound access through a NAT
    limits: Limits = field(default_factory=Limits)
    read_only: bool = False
    init: bool = False
    labels: tuple[tuple[str, str], ...] = ()
    stop_signal: str | None = None
    stop_timeout: int | None = None
    auto_remove: bool = False
    cap_add: tuple[str, ...] = ()
    cap_drop: tuple[str, ...] = ()
    privileged: bool = False
    cgroupns: str = ""                  # "" (private), "private" or "host"
    sysctls: tuple[tuple[str, str], ...] = ()
    pid_mode: str = ""
    ipc_mode: str = ""
    security_opt: tuple[str, ...] = ()  # --security-opt, as given (runtime/securityopt.py)
    devices: tuple[Device, ...] = ()    # --device
    userns: str = ""                    # --userns: "", host, auto, auto:size=N


IPC_MODES = ("private", "shareable", "none", "host")  # plus "container:<name|id>"


def normalize_pid(value: str) -> str:
    """Docker's --pid: empty (a pid namespace of its own) or ``host``."""
    if value in ("", "host"):
        return value
    raise InvalidArgument(f"invalid --pid value {value!r}",
                          hint="use host, or leave it out for the container's own pid namespace")


def normalize_ipc(value: str) -> str:
    """Docker 20.10's --ipc; empty means the default, ``private``."""
    v = value or "private"
    if v in IPC_MODES:
        return v
    if v.startswith("container:") and len(v) > len("container:"):
        return v
    raise InvalidArgument(f"invalid --ipc value {value!r}",
                          hint="use private (the default), shareable, none, host or container:NAME")


def normalize_cgroupns(value: str) -> str:
    """``--cgroupns``: ``private`` (the default, as Docker on cgroup v2) or ``host``."""
    v = value or "private"
    if v in ("private", "host"):
        return v
    raise InvalidArgument(f"invalid --cgroupns value {value!r}",
                          hint="use private (the default) or host")


def normalize_network(value: str) -> str:
    v = value or "private"
    if v in ("bridge", "default"):
        return "private"
    if v in NETWORK_MODES:
        return v
    if v.startswith("container:") and len(v) > len("container:"):
        return v
    raise InvalidArgument(f"invalid --network value {value!r}",
                          hint="use none, host, private (the default) or container:NAME")


def from_image(image_ref: str, image_id: str, config: dict[str, Any], opts: RunOptions,
               *, hostname: str) -> ContainerSpec:
    """Combine an image config (the OCI ``config`` object) with run options, as Docker does."""
    img_entry = tuple(config.get("Entrypoint") or ())
    img_cmd = tuple(config.get("Cmd") or ())
    if opts.entrypoint is not None:
        entrypoint: tuple[str, ...] = (opts.entrypoint,) if opts.entrypoint else ()
        cmd = opts.command  # --entrypoint clears the image's CMD
    else:
        entrypoint = img_entry
        cmd = opts.command or img_cmd
    argv = entrypoint + cmd
    if not argv:
        raise InvalidArgument("no command specified",
                              hint="the image has no CMD or ENTRYPOINT: give a command after the image name")
    env = merge_env(list(config.get("Env") or ()), list(opts.env))
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, f"PATH={DEFAULT_PATH}")
    if not any(e.startswith("HOSTNAME=") for e in env):
        env.append(f"HOSTNAME={opts.hostname or hostname}")
    if opts.tty and not any(e.startswith("TERM=") for e in env):
        env.append("TERM=xterm")
    labels = dict(config.get("Labels") or {})
    labels.update(dict(opts.labels))
    ports = list(opts.ports)
    exposed = tuple(sorted((config.get("ExposedPorts") or {}).keys()))
    if opts.publish_all:
        have = {(p.container_port, p.proto) for p in ports}
        for spec in exposed:
            num, _, proto = spec.partition("/")
            key = (int(num), proto or "tcp")
            if key not in have:
                ports.append(Port(int(num), proto or "tcp"))
    network = normalize_network(opts.network)
    if ports and network != "private":
        raise InvalidArgument(f"published ports need the container's own network, not --network {network}",
                              hint="drop -p, or use the default network")
    if opts.outbound and network != "private":
        raise InvalidArgument(f"outbound access needs the container's own network, not --network {network}")
    stop_signal = opts.stop_signal or config.get("StopSignal") or "SIGTERM"
    return ContainerSpec(
        image=image_ref,
        image_id=image_id,
        argv=argv,
        entrypoint=entrypoint,
        cmd=cmd,
        env=tuple(env),
        workdir=opts.workdir or config.get("WorkingDir") or "/",
        user=opts.user if opts.user is not None else (config.get("User") or ""),
        hostname=opts.hostname or hostname,
        tty=opts.tty,
        stdin_open=opts.stdin_open,
        mounts=opts.mounts,
        ports=tuple(ports),
        exposed_ports=exposed,
        network=network,
        outbound=opts.outbound,
        limits=opts.limits,
        read_only=opts.read_only,
        init=opts.init,
        labels=tuple(sorted(labels.items())),
        stop_signal=stop_signal,
        stop_timeout=opts.stop_timeout,
        auto_remove=opts.auto_remove,
        cap_add=opts.cap_add,
        cap_drop=opts.cap_drop,
        privileged=opts.privileged,
        healthcheck=config.get("Healthcheck"),
        devices=opts.devices,
        cgroupns=normalize_cgroupns(opts.cgroupns),
        sysctls=_checked_sysctls(opts, network),
        pid_mode=normalize_pid(opts.pid_mode),
        ipc_mode=normalize_ipc(opts.ipc_mode),
        **_security(opts),
        userns=_userns(opts),
    )


def _userns(opts: RunOptions) -> str:
    from sbx.runtime.userns_auto import check_mode, parse

    mode = parse(opts.userns)
    check_mode(mode)
    return mode.shown()


def _security(opts: RunOptions) -> dict[str, Any]:
    if not opts.security_opt:
        return {}
    from sbx.runtime.securityopt import parse

    sec = parse(opts.security_opt)
    return {"seccomp": sec.seccomp, "no_new_privs": sec.no_new_privs, "security_opt": sec.shown}


def _checked_sysctls(opts: RunOptions, network: str) -> tuple[tuple[str, str], ...]:
    from sbx.runtime.sysctls import check, dotted

    pairs = tuple((dotted(k), v) for k, v in opts.sysctls)
    if pairs:
        check(pairs, network=network, ipc=opts.ipc_mode or "private")
    return pairs
