"""Image config changes of the metadata instructions (CMD, ENTRYPOINT, ENV, LABEL,
EXPOSE, WORKDIR, USER, VOLUME, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, MAINTAINER), as
pure functions of an *expanded* instruction and the config before it.

Docker's rules kept here: a shell-form command runs through the current SHELL
(``/bin/sh -c`` by default); ENTRYPOINT clears a CMD inherited from the base image but
not one set earlier in the same stage; EXPOSE ``80`` means ``80/tcp`` and ranges expand;
HEALTHCHECK timings of 0 inherit the base image's; a relative WORKDIR is relative to the
current one.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import replace

from sbx.build.dockerfile import (
    Cmd,
    CommandLine,
    Entrypoint,
    Env,
    Expose,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    Onbuild,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
)
from sbx.errors import BuildError
from sbx.oci.image import Healthcheck as ImageHealthcheck
from sbx.oci.image import ImageConfig

DEFAULT_SHELL = ("/bin/sh", "-c")
NOP = "/bin/sh -c #(nop) "


def shell_of(config: ImageConfig) -> tuple[str, ...]:
    return tuple(config.shell) if config.shell else DEFAULT_SHELL


def argv_of(command: CommandLine, config: ImageConfig) -> tuple[str, ...]:
    """The argv of a RUN/CMD/ENTRYPOINT: exec form as written, shell form via SHELL."""
    if command.exec_form:
        return tuple(command.args)
    return (*shell_of(config), command.args[0])


def workdir_path(path: str, config: ImageConfig) -> str:
    return posixpath.normpath(posixpath.join(config.working_dir or "/", path))


def expose_ports(ports: tuple[str, ...], where: str) -> list[str]:
    out: list[str] = []
    for raw in ports:
        number, _, proto = raw.partition("/")
        proto = (proto or "tcp").lower()
        low, _, high = number.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise BuildError(f"{where}: invalid port {raw!r} in EXPOSE",
                             hint="write a number, a range (8000-8010) and maybe /tcp or /udp") from None
        if proto not in ("tcp", "udp", "sctp") or not 0 < first <= last <= 65535:
            raise BuildError(f"{where}: invalid port {raw!r} in EXPOSE",
                             hint="ports are 1-65535, protocols tcp, udp or sctp")
        out.extend(f"{p}/{proto}" for p in range(first, last + 1))
    return out


def _healthcheck(hc: Healthcheck, base: ImageHealthcheck | None) -> ImageHealthcheck:
    if hc.disabled:
        return ImageHealthcheck(test=("NONE",))
    old = base or ImageHealthcheck(test=())
    return ImageHealthcheck(test=tuple(hc.test), interval=hc.interval or old.interval,
                            timeout=hc.timeout or old.timeout,
                            start_period=hc.start_period or old.start_period,
                            start_interval=hc.start_interval or old.start_interval,
                            retries=hc.retries or old.retries)


def apply(instr: Instruction, config: ImageConfig, *, cmd_set_here: bool, where: str) -> ImageConfig:
    """The config after one metadata instruction (already expanded)."""
    if isinstance(instr, Cmd):
        return replace(config, cmd=argv_of(instr.command, config))
    if isinstance(instr, Entrypoint):
        cmd = config.cmd if cmd_set_here else None
        return replace(config, entrypoint=argv_of(instr.command, config), cmd=cmd)
    if isinstance(instr, Env):
        for pair in instr.pairs:
            config = config.with_env(pair.key, pair.value)
        return config
    if isinstance(instr, Label):
        return config.with_labels({p.key: p.value for p in instr.pairs})
    if isinstance(instr, Expose):
        ports = sorted(set(config.exposed_ports) | set(expose_ports(instr.ports, where)))
        return replace(config, exposed_ports=tuple(ports))
    if isinstance(instr, Workdir):
        return replace(config, working_dir=workdir_path(instr.path, config))
    if isinstance(instr, User):
        return replace(config, user=instr.user)
    if isinstance(instr, Volume):
        return replace(config, volumes=tuple(sorted(set(config.volumes) | set(instr.paths))))
    if isinstance(instr, StopSignal):
        return replace(config, stop_signal=instr.signal)
    if isinstance(instr, Healthcheck):
        return replace(config, healthcheck=_healthcheck(instr, config.healthcheck))
    if isinstance(instr, Shell):
        return replace(config, shell=tuple(instr.argv))
    if isinstance(instr, Onbuild):
        return replace(config, onbuild=(*config.onbuild, instr.expression))
    if isinstance(instr, Maintainer):
        return config
    raise BuildError(f"{where}: {instr.keyword} is not a metadata instruction")  # pragma: no cover


def created_by(instr: Instruction, config: ImageConfig) -> str:
    """The history line of a metadata step, in the classic builder's words."""
    if isinstance(instr, (Cmd, Entrypoint)):
        return f"{NOP} {instr.keyword} {json.dumps(list(argv_of(instr.command, config)))}"
    return f"{NOP} {instr.original}" if instr.original else f"{NOP} {instr.keyword}"
