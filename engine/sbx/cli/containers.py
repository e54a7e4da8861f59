"""Container commands: run, create, start, ps, exec, logs, stop, kill, wait, rm, port,
inspect, container prune."""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

from sbx.cli.context import open_engine, parse_or_help
from sbx.cli.flags import CommandSpec, Flag, Parsed
from sbx.errors import ImageNotFound, InvalidArgument, NotFound, SbxError

RUN_FLAGS = (
    Flag(("--name",), "name", help="Assign a name to the container"),
    Flag(("--rm",), "rm", "bool", help="Automatically remove the container when it exits"),
    Flag(("-d", "--detach"), "detach", "bool", help="Run container in background and print container ID"),
    Flag(("-e", "--env"), "env", multiple=True, help="Set environment variables", metavar="list"),
    Flag(("--env-file",), "env_file", multiple=True, help="Read in a file of environment variables", metavar="list"),
    Flag(("-w", "--workdir"), "workdir", help="Working directory inside the container"),
    Flag(("-u", "--user"), "user", help="Username or UID (format: <name|uid>[:<group|gid>])"),
    Flag(("--entrypoint",), "entrypoint", help="Overwrite the default ENTRYPOINT of the image"),
    Flag(("-h", "--hostname"), "hostname", help="Container host name"),
    Flag(("-v", "--volume"), "volume", multiple=True, help="Bind mount a volume", metavar="list"),
    Flag(("--tmpfs",), "tmpfs", multiple=True, help="Mount a tmpfs directory", metavar="list"),
    Flag(("-p", "--publish"), "publish", multiple=True, help="Publish a container's port(s) to the host", metavar="list"),
    Flag(("-P", "--publish-all"), "publish_all", "bool", help="Publish all exposed ports to random ports"),
    Flag(("--network", "--net"), "network", default="private", help="Connect a container to a network (none, host, container:NAME)"),
    Flag(("-m", "--memory"), "memory", "bytes", help="Memory limit"),
    Flag(("--memory-swap",), "memory_swap", help="Swap limit equal to memory plus swap: '-1' to enable unlimited swap"),
    Flag(("--cpus",), "cpus", help="Number of CPUs", metavar="decimal"),
    Flag(("-c", "--cpu-shares"), "cpu_shares", "int", help="CPU shares (relative weight)"),
    Flag(("--pids-limit",), "pids_limit", "int", help="Tune container pids limit (set -1 for unlimited)"),
    Flag(("--read-only",), "read_only", "bool", help="Mount the container's root filesystem as read only"),
    Flag(("--init",), "init", "bool", help="Run an init inside the container that forwards signals and reaps processes"),
    Flag(("-i", "--interactive"), "interactive", "bool", help="Keep STDIN open even if not attached"),
    Flag(("-t", "--tty"), "tty", "bool", help="Allocate a pseudo-TTY"),
    Flag(("-l", "--label"), "label", multiple=True, help="Set meta data on a container", metavar="list"),
    Flag(("--stop-signal",), "stop_signal", help="Signal to stop the container"),
    Flag(("--stop-timeout",), "stop_timeout", "int", help="Timeout (in seconds) to stop a container"),
    Flag(("--cap-add",), "cap_add", multiple=True, help="Add Linux capabilities", metavar="list"),
    Flag(("--cap-drop",), "cap_drop", multiple=True, help="Drop Linux capabilities", metavar="list"),
    Flag(("--privileged",), "privileged", "bool", help="Give extended privileges to this container"),
    Flag(("--device",), "device", multiple=True, help="Add a host device to the container", metavar="list",
         convert=lambda text: _parse_device(text)),
    Flag(("--security-opt",), "security_opt", multiple=True, help="Security Options", metavar="list"),
    Flag(("--cgroupns",), "cgroupns", default="", help="Cgroup namespace to use (host|private)", metavar="string"),
    Flag(("--sysctl",), "sysctl", multiple=True, help="Sysctl options (namespaced keys only)", metavar="map"),
    Flag(("--pid",), "pid", default="", help="PID namespace to use (host)", metavar="string"),
    Flag(("--ipc",), "ipc", default="", help="IPC mode to use (private, shareable, none, host, container:NAME)", metavar="string"),
    Flag(("--userns",), "userns", default="", help="User namespace to use (host, auto, auto:size=N)", metavar="string"),
    Flag(("--pull",), "pull", default="missing", help='Pull image before running ("always", "missing", "never")'),
    Flag(("-a", "--attach"), "attach", multiple=True, help="Attach to STDIN, STDOUT or STDERR", metavar="list"),
)

RUN = CommandSpec("sbx run", "sbx run [OPTIONS] IMAGE [COMMAND] [ARG...]",
                  "Create and run a new container from an image", RUN_FLAGS, min_args=1)
CREATE = CommandSpec("sbx create", "sbx create [OPTIONS] IMAGE [COMMAND] [ARG...]",
                     "Create a new container", RUN_FLAGS, min_args=1)




def _parse_device(text: str) -> Any:
    from sbx.runtime.devicespec import parse_device

    return parse_device(text)


def _read_env_files(paths: list[str]) -> list[str]:
    from sbx.runtime.envfile import parse_env_file

    out: list[str] = []
    for path in paths:
        out.extend(parse_env_file(path))
    return out


def _env_flags(items: list[str]) -> list[str]:
    from sbx.runtime.envfile import parse_env_flag

    return [parse_env_flag(item) for item in items]


def _sysctl_flags(items: list[str]) -> tuple[tuple[str, str], ...]:
    if not items:
        return ()
    from sbx.runtime.sysctls import parse

    return parse(items)


def run_options(p: Parsed) -> Any:
    from sbx.runtime import mountspec, portspec
    from sbx.runtime.spec import Limits, Mount, Port, RunOptions, normalize_ipc, normalize_pid
    from sbx.units import parse_bytes, parse_cpus

    o = p.opts
    env = _read_env_files(o["env_file"]) + _env_flags(o["env"])
    mounts: list[Mount] = []
    for v in o["volume"]:
        m = mountspec.parse_volume(v)
        if isinstance(m, mountspec.BindMount):
            mounts.append(Mount("bind", m.target, source=m.source, read_only=m.read_only,
                                options="idmap" if m.idmap else ""))
        else:
            mounts.append(Mount("volume", m.target, name=m.name or "", read_only=m.read_only))
    for t in o["tmpfs"]:
        tm = mountspec.parse_tmpfs(t)
        mounts.append(Mount("tmpfs", tm.target, options=tm.mount_data(), read_only=tm.read_only))
    ports = []
    for spec in o["publish"]:
        for b in portspec.parse_publish(spec, default_host_ip="127.0.0.1"):
            ports.append(Port(b.container_port, b.proto, b.host_ip, b.host_port))
    swap = None
    if o["memory_swap"] is not None:
        swap = -1 if o["memory_swap"] == "-1" else parse_bytes(o["memory_swap"])
    limits = Limits(memory=o["memory"], memory_swap=swap,
                    cpus=parse_cpus(o["cpus"]) if o["cpus"] is not None else None,
                    cpu_shares=o["cpu_shares"], pids=o["pids_limit"])
    if o["memory"] is not None and o["memory"] < 6 * 1024 * 1024:
        raise InvalidArgument("Minimum memory limit allowed is 6MB", hint="use -m 6m or more")
    labels = []
    for item in o["label"]:
        k, _, v = item.partition("=")
        labels.append((k, v))
    if o["stop_signal"]:
        from sbx.units import parse_signal

        parse_signal(o["stop_signal"])
    return RunOptions(
        command=tuple(p.args[1:]), entrypoint=o["entrypoint"], env=tuple(env),
        workdir=o["workdir"], user=o["user"], hostname=o["hostname"], tty=o["tty"],
        stdin_open=o["interactive"], mounts=tuple(mounts), ports=tuple(ports),
        publish_all=o["publish_all"], network=o["network"], limits=limits,
        read_only=o["read_only"], init=o["init"], labels=tuple(labels),
        stop_signal=o["stop_signal"], stop_timeout=o["stop_timeout"], auto_remove=o["rm"],
        cap_add=tuple(o["cap_add"]), cap_drop=tuple(o["cap_drop"]), privileged=o["privileged"],
        cgroupns=o["cgroupns"], sysctls=_sysctl_flags(o["sysctl"]),
        pid_mode=normalize_pid(o["pid"]), ipc_mode=normalize_ipc(o["ipc"]),
        security_opt=_security_opts(o["security_opt"]), devices=tuple(o["device"]),
        userns=o["userns"])


def _security_opts(items: list[str]) -> tuple[str, ...]:
    """As the docker CLI: a seccomp profile file is read now (its JSON stored with the
    container); apparmor=/label= get a one-line note (sbx applies no LSM profile)."""
    if not items:
        return ()
    from sbx.runtime import securityopt

    sec = securityopt.parse(items)
    if sec.apparmor or sec.labels:
        for note in securityopt.notes(sec, securityopt.host_lsms()):
            print(f"sbx: {note}", file=sys.stderr)
    return sec.shown


def _create(engine: Any, p: Parsed) -> Any:
    engine.require_root()
    image = p.args[0]
    opts = run_options(p)
    if p.opts["pull"] not in ("always", "missing", "never"):
        raise InvalidArgument(f"invalid pull option: '{p.opts['pull']}': must be one of \"always\", \"missing\" or \"never\"")
    try:
        if p.opts["pull"] == "always":
            raise ImageNotFound(image)
        engine.images.resolve(image)
    except ImageNotFound:
        if p.opts["pull"] == "never":
            raise
        _pull_missing(engine, image)
    return engine.create(image, opts, name=p.opts["name"])


def _pull_missing(engine: Any, image: str) -> None:
    from sbx.oci.reference import Reference

    ref = Reference.parse(image) if not image.startswith("sha256:") else None
    shown = ref.familiar if ref else image
    sys.stderr.write(f"Unable to find image '{shown}' locally\n")
    pull = getattr(engine, "pull", None)
    if pull is None or ref is None:
        raise ImageNotFound(f"No such image: {shown}",
                            hint="import it (sbx import), load it (sbx load) or build it first")
    pull(image, out=sys.stderr)


def cmd_create(name: str, argv: list[str]) -> int:
    p = parse_or_help(CREATE, argv)
    if p is None:
        return 0
    engine = open_engine()
    rec = _create(engine, p)
    sys.stdout.write(rec.id + "\n")
    return 0


def cmd_run(name: str, argv: list[str]) -> int:
    p = parse_or_help(RUN, argv)
    if p is None:
        return 0
    engine = open_engine()
    if p.opts["detach"] and p.opts["rm"] is False:
        pass
    rec = _create(engine, p)
    detach = p.opts["detach"]
    try:
        started = engine.start(rec.id, attached=not detach)
    except SbxError:
        if p.opts["rm"]:
            engine.remove_quietly(rec.id)
        raise
    if detach:
        sys.stdout.write(rec.id + "\n")
        return 0
    return _attached_wait(engine, started)


def _attached_wait(engine: Any, started: Any) -> int:
    """Forward signals to the container (docker's sig-proxy) until the monitor reports
    its exit; with a tty, keep the terminal raw and its size in step."""
    from sbx.linux import proc

    rec = started.record
    pid, pstart = started.pid, proc.start_time(started.pid)

    def forward(sig: int, _frame: Any) -> None:
        proc.signal_checked(pid, pstart, sig)

    if rec.spec.tty:
        from sbx.cli.terminal import raw_terminal, size_to_pipe

        with raw_terminal(size_to_pipe(started.resize_fd)):
            code = started.wait_exit()
    else:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
                    signal.SIGUSR2):
            signal.signal(sig, forward)
        code = started.wait_exit()
    if started.error:
        sys.stderr.write(f"sbx: {started.error}\n")
    return int(code)


START = CommandSpec("sbx start", "sbx start [OPTIONS] CONTAINER [CONTAINER...]",
                    "Start one or more stopped containers",
                    (Flag(("-a", "--attach"), "attach", "bool", help="Attach STDOUT/STDERR and forward signals"),
                     Flag(("-i", "--interactive"), "interactive", "bool", help="Attach container's STDIN")),
                    min_args=1)


def cmd_start(name: str, argv: list[str]) -> int:
    p = parse_or_help(START, argv)
    if p is None:
        return 0
    engine = open_engine()
    attach = p.opts["attach"] or p.opts["interactive"]
    if attach and len(p.args) > 1:
        raise InvalidArgument("you cannot start and attach multiple containers at once")
    failed = 0
    for ref in p.args:
        try:
            started = engine.start(ref, attached=attach)
        except SbxError as e:
            sys.stderr.write(f"sbx: {e.one_line()}\n")
            failed = e.exit_code
            continue
        if attach:
            return _attached_wait(engine, started)
        sys.stdout.write(ref + "\n")
    return failed


PS = CommandSpec("sbx ps", "sbx ps [OPTIONS]", "List containers", (
    Flag(("-a", "--all"), "all", "bool", help="Show all containers (default shows just running)"),
    Flag(("-q", "--quiet"), "quiet", "bool", help="Only display container IDs"),
    Flag(("-f", "--filter"), "filter", multiple=True, help="Filter output based on conditions provided", metavar="filter"),
    Flag(("--format",), "format", help="Format output using a Go template or 'json'"),
    Flag(("--no-trunc",), "no_trunc", "bool", help="Don't truncate output"),
    Flag(("-n", "--last"), "last", "int", default=-1, help="Show n last created containers (includes all states)"),
    Flag(("-l", "--latest"), "latest", "bool", help="Show the latest created container (includes all states)"),
    Flag(("-s", "--size"), "size", "bool", help="Display total file sizes"),
), max_args=0, interspersed=True)


def cmd_ps(name: str, argv: list[str]) -> int:
    from sbx.cli import views
    from sbx.cli.filters import Filters
    from sbx.cli.template import render

    p = parse_or_help(PS, argv)
    if p is None:
        return 0
    o = p.opts
    engine = open_engine()
    flt = Filters.parse(o["filter"]) if o["filter"] else None
    last = 1 if o["latest"] else o["last"]
    show_all = o["all"] or last > 0 or bool(flt and (flt.get("status") or flt.get("exited")))
    recs = engine.list(all=show_all)
    if flt:
        facts = {r.id: _facts(r) for r in engine.list(all=True)}

        def lookup(ref: str) -> Any:
            try:
                return facts.get(engine.containers.resolve(ref))
            except SbxError:
                return None

        recs = [r for r in recs if flt.match_container(facts[r.id], lookup=lookup,
                                                         resolve_image=lambda v: _image_id(engine, v))]
    if last > 0:
        recs = recs[:last]
    rows = [views.ContainerRow(r, trunc=not o["no_trunc"]) for r in recs]
    if o["quiet"]:
        sys.stdout.write("".join(r.ID + "\n" for r in rows))
        return 0
    fmt = o["format"] or views.PS_TABLE
    if fmt == "json":
        fmt = "{{json .}}"
    sys.stdout.write(render(fmt, rows, views.PS_HEADERS))
    return 0


def _facts(rec: Any) -> Any:
    from sbx.cli.filters import ContainerFacts

    return ContainerFacts(id=rec.id, name=rec.name, labels=rec.spec.labels_dict,
                          status=rec.state.status.value,
                          exit_code=rec.state.exit_code if rec.state.status.value == "exited" else None,
                          image=rec.spec.image, image_id=rec.spec.image_id, created=rec.created)


def _image_id(engine: Any, ref: str) -> str | None:
    try:
        return str(engine.images.resolve(ref).id)
    except SbxError:
        return None


EXEC = CommandSpec("sbx exec", "sbx exec [OPTIONS] CONTAINER COMMAND [ARG...]",
                   "Execute a command in a running container", (
    Flag(("-d", "--detach"), "detach", "bool", help="Detached mode: run command in the background"),
    Flag(("-e", "--env"), "env", multiple=True, help="Set environment variables", metavar="list"),
    Flag(("--env-file",), "env_file", multiple=True, help="Read in a file of environment variables", metavar="list"),
    Flag(("-i", "--interactive"), "interactive", "bool", help="Keep STDIN open even if not attached"),
    Flag(("-t", "--tty"), "tty", "bool", help="Allocate a pseudo-TTY"),
    Flag(("-u", "--user"), "user", help="Username or UID (format: <name|uid>[:<group|gid>])"),
    Flag(("-w", "--workdir"), "workdir", help="Working directory inside the container"),
    Flag(("--privileged",), "privileged", "bool", help="Give extended privileges to the command"),
), min_args=2)


def cmd_exec(name: str, argv: list[str]) -> int:
    from sbx.runtime.execute import ExecSpec

    p = parse_or_help(EXEC, argv)
    if p is None:
        return 0
    o = p.opts
    engine = open_engine()
    es = ExecSpec(argv=tuple(p.args[1:]), env=tuple(_read_env_files(o["env_file"]) + _env_flags(o["env"])),
                  workdir=o["workdir"], user=o["user"], tty=o["tty"] and sys.stdin.isatty() or o["tty"],
                  stdin_open=o["interactive"], privileged=o["privileged"])
    proc_ = engine.exec(p.args[0], es)
    if o["detach"]:
        return 0
    if es.tty:
        from sbx.cli.terminal import relay_pty

        relay_pty(proc_.pty_master, stdin=o["interactive"])
        return proc_.wait()
    return proc_.wait(1, 2, 0 if o["interactive"] else None)


LOGS = CommandSpec("sbx logs", "sbx logs [OPTIONS] CONTAINER", "Fetch the logs of a container", (
    Flag(("-f", "--follow"), "follow", "bool", help="Follow log output"),
    Flag(("-n", "--tail"), "tail", default="all", help='Number of lines to show from the end of the logs (default "all")'),
    Flag(("-t", "--timestamps"), "timestamps", "bool", help="Show timestamps"),
    Flag(("--since",), "since", help="Show logs since timestamp or relative (e.g. 42m)"),
    Flag(("--until",), "until", help="Show logs before a timestamp or relative (e.g. 42m)"),
    Flag(("--details",), "details", "bool", help="Show extra details provided to logs"),
), min_args=1, max_args=1, interspersed=True)


def cmd_logs(name: str, argv: list[str]) -> int:
    from sbx.runtime import logs
    from sbx.runtime.state import Status

    p = parse_or_help(LOGS, argv)
    if p is None:
        return 0
    o = p.opts
    tail = None
    if o["tail"] not in ("all", "-1"):
        try:
            tail = int(o["tail"])
        except ValueError:
            raise InvalidArgument(f'invalid value for "tail": "{o["tail"]}"', hint="give a number or all") from None
    since, until = _time_bound(o["since"]), _time_bound(o["until"])
    engine = open_engine()
    rec = engine.get(p.args[0])
    path = str(engine.log_path(rec))

    def emit(entry: Any) -> None:
        if since or until:
            from sbx.cli.format import parse_timestamp

            ts = parse_timestamp(entry.time) or 0
            if (since and ts < since) or (until and ts > until):
                return
        stream = sys.stdout if entry.stream == "stdout" else sys.stderr
        text = f"{entry.time} {entry.text}" if o["timestamps"] else entry.text
        stream.write(text)
        stream.flush()

    for entry in logs.read(path, tail=tail):
        emit(entry)
    if o["follow"] and rec.state.status is Status.RUNNING:
        from sbx.linux import proc

        start = os.path.getsize(path) if os.path.exists(path) else 0
        mon, mstart = rec.state.monitor_pid, rec.state.monitor_start
        for entry in logs.follow(path, start=start, alive=lambda: proc.is_alive(mon, mstart)):
            emit(entry)
    return 0


def _time_bound(text: str | None) -> float | None:
    if not text:
        return None
    import time

    from sbx.cli.format import parse_timestamp
    from sbx.units import parse_duration

    ts = parse_timestamp(text)
    if ts is not None:
        return ts
    try:
        return float(text)
    except ValueError:
        return time.time() - parse_duration(text)


def _each(refs: list[str], fn: Any, *, print_ref: bool = True) -> int:
    code = 0
    for ref in refs:
        try:
            out = fn(ref)
        except SbxError as e:
            sys.stderr.write(f"sbx: {e.one_line()}\n")
            code = 1
            continue
        if print_ref:
            sys.stdout.write(f"{out if isinstance(out, str) else ref}\n")
    return code


STOP = CommandSpec("sbx stop", "sbx stop [OPTIONS] CONTAINER [CONTAINER...]",
                   "Stop one or more running containers", (
    Flag(("-t", "--time", "--timeout"), "time", "int", help="Seconds to wait before killing the container"),
    Flag(("-s", "--signal"), "signal", help="Signal to send to the container"),
), min_args=1, interspersed=True)


def cmd_stop(name: str, argv: list[str]) -> int:
    p = parse_or_help(STOP, argv)
    if p is None:
        return 0
    engine = open_engine()
    return _each(p.args, lambda ref: engine.stop(ref, p.opts["time"]))


KILL = CommandSpec("sbx kill", "sbx kill [OPTIONS] CONTAINER [CONTAINER...]",
                   "Kill one or more running containers", (
    Flag(("-s", "--signal"), "signal", default="KILL", help="Signal to send to the container"),
), min_args=1, interspersed=True)


def cmd_kill(name: str, argv: list[str]) -> int:
    from sbx.units import parse_signal

    p = parse_or_help(KILL, argv)
    if p is None:
        return 0
    sig = parse_signal(p.opts["signal"])
    engine = open_engine()
    return _each(p.args, lambda ref: engine.kill(ref, sig))


WAIT = CommandSpec("sbx wait", "sbx wait CONTAINER [CONTAINER...]",
                   "Block until one or more containers stop, then print their exit codes",
                   (), min_args=1, interspersed=True)


def cmd_wait(name: str, argv: list[str]) -> int:
    p = parse_or_help(WAIT, argv)
    if p is None:
        return 0
    engine = open_engine()
    return _each(p.args, lambda ref: str(engine.wait(ref)))


RM = CommandSpec("sbx rm", "sbx rm [OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers", (
    Flag(("-f", "--force"), "force", "bool", help="Force the removal of a running container (uses SIGKILL)"),
    Flag(("-v", "--volumes"), "volumes", "bool", help="Remove anonymous volumes associated with the container"),
), min_args=1, interspersed=True)


def cmd_rm(name: str, argv: list[str]) -> int:
    p = parse_or_help(RM, argv)
    if p is None:
        return 0
    engine = open_engine()
    return _each(p.args, lambda ref: engine.remove(ref, force=p.opts["force"]) and ref)


PORT = CommandSpec("sbx port", "sbx port CONTAINER [PRIVATE_PORT[/PROTO]]",
                   "List port mappings or a specific mapping for the container", (), min_args=1, max_args=2)


def cmd_port(name: str, argv: list[str]) -> int:
    from sbx.runtime.state import Status

    p = parse_or_help(PORT, argv)
    if p is None:
        return 0
    rec = open_engine().get(p.args[0])
    ports = rec.state.ports if rec.state.status is Status.RUNNING else ()
    want = None
    if len(p.args) == 2:
        num, _, proto = p.args[1].partition("/")
        want = (int(num) if num.isdigit() else -1, proto or "tcp")
    lines = []
    for hp in sorted(ports, key=lambda h: (h.container_port, h.proto)):
        if want and (hp.container_port, hp.proto) != want:
            continue
        host = f"[{hp.host_ip}]" if ":" in hp.host_ip else hp.host_ip
        lines.append(f"{host}:{hp.host_port}" if want else f"{hp.container_port}/{hp.proto} -> {host}:{hp.host_port}")
    if want and not lines:
        raise NotFound(f"No public port '{p.args[1]}' published for {p.args[0]}")
    sys.stdout.write("".join(line + "\n" for line in lines))
    return 0


INSPECT = CommandSpec("sbx inspect", "sbx inspect [OPTIONS] NAME|ID [NAME|ID...]",
                      "Return low-level information on containers or images", (
    Flag(("-f", "--format"), "format", help="Format output using a Go template or 'json'"),
    Flag(("--type",), "type", help="Only inspect objects of the given type (container, image)"),
    Flag(("-s", "--size"), "size", "bool", help="Display total file sizes if the type is container"),
), min_args=1, interspersed=True)


def cmd_inspect(name: str, argv: list[str]) -> int:
    p = parse_or_help(INSPECT, argv)
    if p is None:
        return 0
    kind = p.opts["type"] or ("container" if name.startswith("container") else None)
    if kind not in (None, "container", "image"):
        raise InvalidArgument(f'"{kind}" is not a valid value for --type', hint="use container or image")
    engine = open_engine()
    docs, code = [], 0
    for ref in p.args:
        doc = None
        if kind in (None, "container"):
            try:
                doc = _inspect_container(engine, ref)
            except NotFound:
                if kind == "container":
                    sys.stderr.write(f"Error: No such container: {ref}\n")
                    code = 1
                    continue
        if doc is None:
            try:
                from sbx.cli.images import inspect_image

                doc = inspect_image(engine, ref)
            except (NotFound, InvalidArgument):
                sys.stderr.write(f"Error: No such object: {ref}\n")
                code = 1
                continue
        docs.append(doc)
    write_docs(docs, p.opts["format"])
    return code


def _inspect_container(engine: Any, ref: str) -> dict:
    from sbx.cli.views import inspect_container

    rec = engine.get(ref)
    return inspect_container(rec, engine.containers.files(rec.id))


def write_docs(docs: list[dict], fmt: str | None) -> None:
    if fmt and fmt != "json":
        from sbx.cli.template import render

        sys.stdout.write(render(fmt, docs))
    else:
        sys.stdout.write(json.dumps(docs, indent=4) + "\n")


CPRUNE = CommandSpec("sbx container prune", "sbx container prune [OPTIONS]", "Remove all stopped containers", (
    Flag(("-f", "--force"), "force", "bool", help="Do not prompt for confirmation"),
), max_args=0)


def cmd_container_prune(name: str, argv: list[str]) -> int:
    from sbx.cli.format import human_size
    from sbx.cli.system import confirm

    p = parse_or_help(CPRUNE, argv)
    if p is None:
        return 0
    if not p.opts["force"] and not confirm("WARNING! This will remove all stopped containers."):
        return 0
    rep = open_engine().prune_containers()
    if rep.containers:
        sys.stdout.write("Deleted Containers:\n" + "".join(c + "\n" for c in rep.containers) + "\n")
    sys.stdout.write(f"Total reclaimed space: {human_size(rep.reclaimed)}\n")
    return 0
