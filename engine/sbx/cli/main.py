"""``sbx``: the docker-like command line.  Errors become one line on stderr and an exit
code (125 engine, 126/127 command, like Docker); never a traceback (``SBX_DEBUG=1``
shows one).  Command modules are imported only when their command runs."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

from sbx.errors import InvalidArgument, SbxError

# command -> (module, function, summary); "a b" entries are subcommands
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("sbx.cli.containers", "cmd_run", "Create and run a new container from an image"),
    "create": ("sbx.cli.containers", "cmd_create", "Create a new container"),
    "start": ("sbx.cli.containers", "cmd_start", "Start one or more stopped containers"),
    "ps": ("sbx.cli.containers", "cmd_ps", "List containers"),
    "exec": ("sbx.cli.containers", "cmd_exec", "Execute a command in a running container"),
    "logs": ("sbx.cli.containers", "cmd_logs", "Fetch the logs of a container"),
    "stop": ("sbx.cli.containers", "cmd_stop", "Stop one or more running containers"),
    "kill": ("sbx.cli.containers", "cmd_kill", "Kill one or more running containers"),
    "wait": ("sbx.cli.containers", "cmd_wait", "Block until containers stop, then print their exit codes"),
    "rm": ("sbx.cli.containers", "cmd_rm", "Remove one or more containers"),
    "port": ("sbx.cli.containers", "cmd_port", "List port mappings of a container"),
    "inspect": ("sbx.cli.containers", "cmd_inspect", "Return low-level information on containers or images"),
    "images": ("sbx.cli.images", "cmd_images", "List images"),
    "import": ("sbx.cli.images", "cmd_import", "Import the contents of a tarball to create an image"),
    "tag": ("sbx.cli.images", "cmd_tag", "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE"),
    "rmi": ("sbx.cli.images", "cmd_rmi", "Remove one or more images"),
    "pull": ("sbx.cli.images_remote", "cmd_pull", "Download an image from a registry"),
    "push": ("sbx.cli.images_remote", "cmd_push", "Upload an image to a registry"),
    "login": ("sbx.cli.images_remote", "cmd_login", "Log in to a registry"),
    "logout": ("sbx.cli.images_remote", "cmd_logout", "Log out from a registry"),
    "save": ("sbx.cli.images_remote", "cmd_save", "Save one or more images to a tar archive"),
    "load": ("sbx.cli.images_remote", "cmd_load", "Load an image from a tar archive or STDIN"),
    "export": ("sbx.cli.images_remote", "cmd_export", "Export a container's filesystem as a tar archive"),
    "bootstrap": ("sbx.cli.images_remote", "cmd_bootstrap", "Make a Debian or Ubuntu base image with mmdebstrap"),
    "image pull": ("sbx.cli.images_remote", "cmd_pull", "Download an image from a registry"),
    "image push": ("sbx.cli.images_remote", "cmd_push", "Upload an image to a registry"),
    "image save": ("sbx.cli.images_remote", "cmd_save", "Save one or more images to a tar archive"),
    "image load": ("sbx.cli.images_remote", "cmd_load", "Load an image from a tar archive or STDIN"),
    "container export": ("sbx.cli.images_remote", "cmd_export", "Export a container's filesystem as a tar archive"),
    "version": ("sbx.cli.system", "cmd_version", "Show the sbx version information"),
    "info": ("sbx.cli.system", "cmd_info", "Display system-wide information"),
    "system prune": ("sbx.cli.system", "cmd_system_prune", "Remove unused data"),
    "system info": ("sbx.cli.system", "cmd_info", "Display system-wide information"),
    "system df": ("sbx.cli.system", "cmd_df", "Show disk usage"),
    "system migrate": ("sbx.cli.system", "cmd_migrate",
                       "(rootless) End the user namespace holder, to take a new id map"),
    "unshare": ("sbx.cli.system", "cmd_unshare",
                "(rootless) Run a command in the user namespace, as root of it"),
    "container ls": ("sbx.cli.containers", "cmd_ps", "List containers"),
    "container prune": ("sbx.cli.containers", "cmd_container_prune", "Remove all stopped containers"),
    "image ls": ("sbx.cli.images", "cmd_images", "List images"),
    "image rm": ("sbx.cli.images", "cmd_rmi", "Remove one or more images"),
    "image prune": ("sbx.cli.images", "cmd_image_prune", "Remove unused images"),
    "image import": ("sbx.cli.images", "cmd_import", "Import the contents of a tarball to create an image"),
    "build": ("sbx.cli.build", "cmd_build", "Build an image from a Dockerfile"),
    "image build": ("sbx.cli.build", "cmd_build", "Build an image from a Dockerfile"),
    "builder prune": ("sbx.cli.build", "cmd_builder_prune", "Remove build cache"),
    "image inspect": ("sbx.cli.images", "cmd_image_inspect", "Display detailed information on images"),
    "container inspect": ("sbx.cli.containers", "cmd_inspect", "Display detailed information on containers"),
}
ALIASES = {"container rm": "rm", "container run": "run", "container create": "create",
           "container start": "start", "container stop": "stop", "container kill": "kill",
           "container logs": "logs", "container exec": "exec", "container wait": "wait",
           "container port": "port", "image tag": "tag", "image list": "image ls",
           "container list": "container ls", "image rmi": "image rm"}
GROUPS = ("system", "container", "image", "builder")

USAGE = """Usage:  sbx [OPTIONS] COMMAND

A daemonless container engine (namespaces, cgroups, overlayfs) with a docker-like CLI.

Options:
      --root string      Store root (default /var/lib/sbx; env SBX_ROOT)
  -D, --debug            Show tracebacks on errors
  -v, --version          Print version information and quit
  -h, --help             Print usage

Commands:
{commands}

Management commands:
  builder     Manage builds (builder prune)
  container   Manage containers
  image       Manage images
  system      Manage sbx

Run 'sbx COMMAND --help' for more information on a command.
"""


def _usage() -> str:
    rows = [f"  {name:<10}  {summary}" for name, (_, _, summary) in COMMANDS.items() if " " not in name]
    return USAGE.format(commands="\n".join(rows))


def _resolve(argv: list[str]) -> tuple[str, list[str]]:
    if not argv:
        raise InvalidArgument("no command given", hint="See 'sbx --help'.")
    name = argv[0]
    if name in GROUPS:
        if len(argv) < 2 or argv[1] in ("-h", "--help"):
            subs = [k.split(" ", 1)[1] for k in (*COMMANDS, *ALIASES) if k.startswith(name + " ")]
            sys.stdout.write(f"Usage:  sbx {name} COMMAND\n\nCommands:\n" +
                             "".join(f"  {s}\n" for s in sorted(set(subs))))
            raise SystemExit(0)
        name = f"{name} {argv[1]}"
        rest = argv[2:]
    else:
        rest = argv[1:]
    name = ALIASES.get(name, name)
    if name not in COMMANDS:
        raise InvalidArgument(f"'{name}' is not a sbx command.", hint="See 'sbx --help'")
    return name, rest


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    debug = bool(os.environ.get("SBX_DEBUG"))
    while args and args[0].startswith("-"):
        opt = args.pop(0)
        if opt in ("-h", "--help"):
            sys.stdout.write(_usage())
            return 0
        if opt in ("-v", "--version"):
            from sbx import __version__

            sys.stdout.write(f"sbx version {__version__}\n")
            return 0
        if opt in ("-D", "--debug"):
            debug = True
        elif opt == "--root" or opt.startswith("--root="):
            value = opt.split("=", 1)[1] if "=" in opt else (args.pop(0) if args else "")
            if not value:
                return _fail(InvalidArgument("flag needs an argument: --root"), debug)
            os.environ["SBX_ROOT"] = value
        else:
            return _fail(InvalidArgument(f"unknown flag: {opt}", hint="See 'sbx --help'."), debug)
    try:
        name, rest = _resolve(args)
        module_name, func_name, _ = COMMANDS[name]
        import importlib

        func: Callable[[str, list[str]], int] = getattr(importlib.import_module(module_name), func_name)
        return func(name, rest)
    except SbxError as e:
        return _fail(e, debug)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:  # an unexpected system error: still one line, never a traceback
        where = f": {e.filename}" if e.filename else ""
        hint = "check that the path is yours: each user has their own store" \
            if isinstance(e, PermissionError) and os.geteuid() else "run with SBX_DEBUG=1 for details"
        return _fail(SbxError(f"{e.strerror or e}{where}", hint=hint), debug)
    except Exception as e:  # noqa: BLE001 - the last line of defence for the one-line rule
        return _fail(SbxError(f"internal error: {type(e).__name__}: {e}",
                              hint="this is a bug in sbx; run with SBX_DEBUG=1 and report it"), debug)


def _fail(e: SbxError, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exc()
    sys.stderr.write(f"sbx: {e.one_line()}\n")
    sys.stderr.flush()
    return e.exit_code


def run() -> None:
    """The ``sbx`` script: exit without the interpreter's teardown (a few ms of garbage
    collection and module finalisation that a one-shot command does not need)."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
