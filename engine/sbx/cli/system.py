"""System commands: version, info, system prune, system df."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from sbx.cli.context import open_engine
from sbx.cli.flags import CommandSpec, Flag, help_text, parse


def confirm(warning: str) -> bool:
    sys.stdout.write(f"{warning}\nAre you sure you want to continue? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")



def cmd_version(name: str, argv: list[str]) -> int:
    import sbx

    p = parse(CommandSpec("sbx version", "sbx version", "Show the sbx version information", ()), argv)
    if p.help:
        return 0
    sys.stdout.write(
        f"Client:\n Version:           {sbx.__version__}\n API version:       {sbx.API_VERSION}\n"
        f" Python version:    {platform.python_version()}\n OS/Arch:           linux/{_arch()}\n\n"
        f"Engine:\n Version:           {sbx.__version__}\n Daemon:            none (a monitor process per container)\n"
        f" Kernel:            {platform.release()}\n")
    return 0


def _arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def info_dict(engine: Any) -> dict[str, Any]:
    import sbx
    from sbx.cgroups import cgroup_info
    from sbx.rootless.idmap import current
    from sbx.runtime.state import Status

    recs = engine.list(all=True)
    cg = cgroup_info()
    rootless = current().rootless
    extra: dict[str, Any] = {}
    if rootless:
        from sbx.rootless import userns

        probe = engine._cgroup("info-probe")
        if probe.version == "none":  # the user may not create cgroups: no limits
            cg = {"driver": "none", "version": "none", "controllers": []}
            extra["CgroupNote"] = getattr(probe, "reason", "")
        with open("/proc/self/uid_map") as f:
            extra["IdMap"] = ", ".join(" ".join(line.split()) for line in f if line.strip())
        extra["IdMapNote"] = str(userns.info().get("note") or "")
    try:
        n_images = len(engine.images.images())
    except Exception:  # noqa: BLE001 - info must print even with a broken store
        n_images = 0
    return {
        "Containers": len(recs),
        "ContainersRunning": sum(r.state.status is Status.RUNNING for r in recs),
        "ContainersStopped": sum(r.state.status is not Status.RUNNING for r in recs),
        "Images": n_images,
        "ServerVersion": sbx.__version__,
        "StorageDriver": _storage_driver(engine, rootless),
        "CgroupDriver": cg.get("driver", "cgroupfs"),
        "CgroupVersion": cg.get("version", ""),
        "CgroupControllers": cg.get("controllers", []),
        "KernelVersion": platform.release(),
        "OperatingSystem": _os_name(),
        "Architecture": platform.machine(),
        "NCPU": os.cpu_count(),
        "RootDir": str(engine.layout.root),
        "RunRoot": str(engine.layout.runroot),
        "Rootless": rootless,
        "Offline": os.environ.get("SBX_OFFLINE", "") not in ("", "0"),
        **extra,
    }


def _storage_driver(engine: Any, rootless: bool) -> str:
    from sbx.runtime import drivers

    driver, why = drivers.choose(engine.layout)
    if driver == "overlay" and rootless:
        return "overlay (userxattr, in the user's namespace)"
    return f"{driver} ({why})" if why else driver


def _os_name() -> str:
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def cmd_info(name: str, argv: list[str]) -> int:
    spec = CommandSpec("sbx info", "sbx info [OPTIONS]", "Display system-wide information",
                       (Flag(("-f", "--format"), "format", help="Format output using a Go template or 'json'"),), max_args=0)
    p = parse(spec, argv)
    if p.help:
        sys.stdout.write(help_text(spec))
        return 0
    d = info_dict(open_engine())
    if p.opts["format"]:
        import json

        from sbx.cli.template import render

        sys.stdout.write(json.dumps(d) + "\n" if p.opts["format"] == "json" else render(p.opts["format"], [d]))
        return 0
    sys.stdout.write(
        f"Containers: {d['Containers']}\n Running: {d['ContainersRunning']}\n Stopped: {d['ContainersStopped']}\n"
        f"Images: {d['Images']}\nServer Version: {d['ServerVersion']}\nStorage Driver: {d['StorageDriver']}\n"
        f"Cgroup Driver: {d['CgroupDriver']}\nCgroup Version: {d['CgroupVersion']}\n"
        f"Cgroup Controllers: {' '.join(d['CgroupControllers'])}\n"
        f"Kernel Version: {d['KernelVersion']}\nOperating System: {d['OperatingSystem']}\n"
        f"Architecture: {d['Architecture']}\nCPUs: {d['NCPU']}\nSbx Root Dir: {d['RootDir']}\n"
        f"Run Root: {d['RunRoot']}\nRootless: {str(d['Rootless']).lower()}\nOffline: {str(d['Offline']).lower()}\n")
    for key, label in (("IdMap", "Rootless ID Map"), ("IdMapNote", "Rootless Note"),
                       ("CgroupNote", "Cgroup Note")):
        if d.get(key):
            sys.stdout.write(f"{label}: {d[key]}\n")
    return 0


PRUNE = CommandSpec("sbx system prune", "sbx system prune [OPTIONS]", "Remove unused data", (
    Flag(("-a", "--all"), "all", "bool", help="Remove all unused images not just dangling ones"),
    Flag(("-f", "--force"), "force", "bool", help="Do not prompt for confirmation"),
    Flag(("--volumes",), "volumes", "bool", help="Prune volumes"),
), max_args=0)


def cmd_system_prune(name: str, argv: list[str]) -> int:
    from sbx.cli.format import human_size

    p = parse(PRUNE, argv)
    if p.help:
        sys.stdout.write(help_text(PRUNE))
        return 0
    what = ["all stopped containers",
            "all images without at least one container associated to them" if p.opts["all"] else "all dangling images",
            "all build cache"]
    if not p.opts["force"] and not confirm("WARNING! This will remove:\n" + "".join(f"  - {w}\n" for w in what)):
        return 0
    engine = open_engine()
    rep = engine.prune_containers()
    total = rep.reclaimed
    if rep.containers:
        sys.stdout.write("Deleted Containers:\n" + "".join(c + "\n" for c in rep.containers) + "\n")
    irep = engine.images.prune(all=p.opts["all"], in_use=set(engine.images_in_use()))
    deleted = list(getattr(irep, "deleted", ()) or getattr(irep, "images", ()))
    if deleted:
        sys.stdout.write("Deleted Images:\n" + "".join(f"deleted: {d}\n" for d in deleted) + "\n")
    total += int(getattr(irep, "reclaimed", 0) or getattr(irep, "reclaimed_bytes", 0))
    from sbx.build.cache import BuildCache

    total += BuildCache(engine.layout).prune().reclaimed
    sys.stdout.write(f"Total reclaimed space: {human_size(total)}\n")
    return 0


def cmd_df(name: str, argv: list[str]) -> int:
    from sbx.cli.format import human_size, table

    engine = open_engine()
    imgs = engine.images.images()
    recs = engine.list(all=True)
    used = engine.images_in_use()
    isize = sum(i.size for i in imgs)
    csize = 0
    for r in recs:
        from sbx.runtime.records import _du

        csize += _du(engine.containers.files(r.id).upper)
    rows = [["Images", str(len(imgs)), str(sum(str(i.id) in used for i in imgs)), human_size(isize)],
            ["Containers", str(len(recs)), str(sum(r.state.status.value == "running" for r in recs)), human_size(csize)]]
    sys.stdout.write(table(rows, ["TYPE", "TOTAL", "ACTIVE", "SIZE"]))
    return 0


def cmd_migrate(name: str, argv: list[str]) -> int:
    """Rootless: end the pause process that holds the user's namespace, so that the next
    command makes a new one with the id map of today's /etc/subuid (as ``podman system
    migrate``).  Refused while containers run in the old one."""
    from sbx.errors import IllegalState
    from sbx.layout import Layout
    from sbx.rootless import idmap, userns

    spec = CommandSpec("sbx system migrate", "sbx system migrate",
                       "(rootless) End the user namespace holder, to take a new id map", (),
                       max_args=0)
    p = parse(spec, argv)
    if p.help:
        sys.stdout.write(help_text(spec))
        return 0
    if not idmap.current().rootless:
        sys.stdout.write("nothing to do: sbx runs as root (no user namespace)\n")
        return 0
    from sbx.engine import Engine
    from sbx.runtime.state import Status

    running = [r.name for r in Engine(Layout.from_env()).list(all=True)
               if r.state.status is Status.RUNNING]
    if running:
        raise IllegalState(f"containers still run in the current user namespace: {', '.join(running)}",
                           hint="stop them first (sbx stop ...)")
    if userns.stop():
        sys.stdout.write("the user namespace holder was ended; the next command makes a new one\n")
    else:
        sys.stdout.write("no user namespace holder runs\n")
    return 0


def cmd_unshare(name: str, argv: list[str]) -> int:
    """Rootless: run a command (default: the user's shell) inside the user's namespace, as
    its root (as ``podman unshare``): to look at or remove store files that belong to the
    container's ids, e.g. ``sbx unshare rm -rf ~/.local/share/sbx``."""
    from sbx.cli.context import open_engine
    from sbx.errors import CommandNotExecutable, CommandNotFound, InvalidArgument
    from sbx.rootless.idmap import current

    spec = CommandSpec("sbx unshare", "sbx unshare [COMMAND [ARG...]]",
                       "(rootless) Run a command in the user namespace, as root of it", ())
    p = parse(spec, argv)
    if p.help:
        sys.stdout.write(help_text(spec))
        return 0
    if not current().rootless:
        raise InvalidArgument("sbx unshare is for rootless mode: as root there is no user "
                              "namespace to enter", hint="run the command directly")
    open_engine()  # the user's store checked, the user's namespace joined
    cmd = list(p.args) or [os.environ.get("SHELL") or "/bin/sh"]
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(cmd[0], cmd)
    except OSError as e:
        import shutil

        if shutil.which(cmd[0]) is None:
            raise CommandNotFound(f"{cmd[0]}: command not found",
                                  hint="check the command and PATH") from None
        raise CommandNotExecutable(f"{cmd[0]}: {e.strerror}", hint="check its permissions") from None
    return 0  # not reached
