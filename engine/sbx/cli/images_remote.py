"""Image transfer commands: pull, push, login, logout, save, load, export, bootstrap."""

from __future__ import annotations

import sys
from typing import Any

from sbx.cli.context import open_engine, parse_or_help
from sbx.cli.flags import CommandSpec, Flag
from sbx.errors import InvalidArgument

PULL = CommandSpec("sbx pull", "sbx pull [OPTIONS] NAME[:TAG|@DIGEST]",
                   "Download an image from a registry", (
    Flag(("-q", "--quiet"), "quiet", "bool", help="Suppress verbose output"),
    Flag(("--platform",), "platform", help="Set platform if the image is multi-platform (os/arch[/variant])"),
), min_args=1, max_args=1, interspersed=True)


def cmd_pull(name: str, argv: list[str]) -> int:
    p = parse_or_help(PULL, argv)
    if p is None:
        return 0
    engine = open_engine()
    engine.require_root("pulling an image")
    res = engine.pull(p.args[0], out=None if p.opts["quiet"] else sys.stdout,
                      platform=p.opts["platform"])
    sys.stdout.write(f"{res.reference}\n")
    return 0


PUSH = CommandSpec("sbx push", "sbx push [OPTIONS] NAME[:TAG]", "Upload an image to a registry", (
    Flag(("-q", "--quiet"), "quiet", "bool", help="Suppress verbose output"),
), min_args=1, max_args=1, interspersed=True)


def cmd_push(name: str, argv: list[str]) -> int:
    from sbx.images.push import Pusher

    p = parse_or_help(PUSH, argv)
    if p is None:
        return 0
    engine = open_engine()
    res = Pusher(engine.images).push(p.args[0], out=None if p.opts["quiet"] else sys.stdout)
    if p.opts["quiet"]:
        sys.stdout.write(f"{res.reference}\n")
    if res.rewritten:
        sys.stderr.write("note: the layers were re-archived from their unpacked form, so the "
                         "pushed image id differs from the local one\n")
    return 0


LOGIN = CommandSpec("sbx login", "sbx login [OPTIONS] [SERVER]", "Log in to a registry", (
    Flag(("-u", "--username"), "username", help="Username"),
    Flag(("-p", "--password"), "password", help="Password"),
    Flag(("--password-stdin",), "password_stdin", "bool", help="Take the password from stdin"),
), max_args=1, interspersed=True)


def cmd_login(name: str, argv: list[str]) -> int:
    from sbx.registry import RegistryConfig, login

    p = parse_or_help(LOGIN, argv)
    if p is None:
        return 0
    o = p.opts
    server = p.args[0] if p.args else "docker.io"
    if o["password_stdin"]:
        if o["password"]:
            raise InvalidArgument("--password and --password-stdin are mutually exclusive")
        if not o["username"]:
            raise InvalidArgument("Must provide --username with --password-stdin")
        o["password"] = sys.stdin.readline().rstrip("\r\n")
    elif o["password"]:
        sys.stderr.write("WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n")
    username = o["username"]
    if not username:
        if not sys.stdin.isatty():
            raise InvalidArgument("cannot ask for a username: stdin is not a terminal",
                                  hint="pass -u USER --password-stdin")
        sys.stdout.write("Username: ")
        sys.stdout.flush()
        username = sys.stdin.readline().strip()
    password = o["password"]
    if not password:
        import getpass

        if not sys.stdin.isatty():
            raise InvalidArgument("cannot ask for a password: stdin is not a terminal",
                                  hint="pass --password-stdin")
        password = getpass.getpass("Password: ")
    path = login(server, username, password, config=RegistryConfig.from_env())
    sys.stdout.write(f"Login Succeeded (credentials saved in {path})\n")
    return 0


LOGOUT = CommandSpec("sbx logout", "sbx logout [SERVER]", "Log out from a registry", (),
                     max_args=1)


def cmd_logout(name: str, argv: list[str]) -> int:
    from sbx.registry import RegistryConfig, logout

    p = parse_or_help(LOGOUT, argv)
    if p is None:
        return 0
    server = p.args[0] if p.args else "docker.io"
    if logout(server, config=RegistryConfig.from_env()):
        sys.stdout.write(f"Removing login credentials for {server}\n")
    else:
        sys.stdout.write(f"Not logged in to {server}\n")
    return 0


SAVE = CommandSpec("sbx save", "sbx save [OPTIONS] IMAGE [IMAGE...]",
                   "Save one or more images to a tar archive (streamed to STDOUT by default)", (
    Flag(("-o", "--output"), "output", help="Write to a file, instead of STDOUT"),
), min_args=1, interspersed=True)


def cmd_save(name: str, argv: list[str]) -> int:
    from pathlib import Path

    from sbx.images.archive import save, save_to_path

    p = parse_or_help(SAVE, argv)
    if p is None:
        return 0
    engine = open_engine()
    if p.opts["output"]:
        save_to_path(engine.images, p.args, Path(p.opts["output"]))
        return 0
    if sys.stdout.isatty():
        raise InvalidArgument("cowardly refusing to save to a terminal",
                              hint="use the -o flag or redirect")
    save(engine.images, p.args, sys.stdout.buffer)
    sys.stdout.buffer.flush()
    return 0


LOAD = CommandSpec("sbx load", "sbx load [OPTIONS]",
                   "Load images from a tar archive (docker save or OCI layout) or STDIN", (
    Flag(("-i", "--input"), "input", help="Read from tar archive file, instead of STDIN"),
    Flag(("-q", "--quiet"), "quiet", "bool", help="Suppress the load output"),
    Flag(("--platform",), "platform", help="Platform to load from a multi-platform archive"),
), max_args=0)


def cmd_load(name: str, argv: list[str]) -> int:
    from sbx.images.archive import load
    from sbx.oci.manifest import Platform

    p = parse_or_help(LOAD, argv)
    if p is None:
        return 0
    engine = open_engine()
    engine.require_root("loading an image")
    source: Any = p.opts["input"]
    if not source:
        if sys.stdin.isatty():
            raise InvalidArgument("requested load from stdin, but stdin is empty",
                                  hint="use -i FILE or pipe an archive in")
        source = sys.stdin.buffer
    plat = Platform.parse(p.opts["platform"]) if p.opts["platform"] else None
    for loaded in load(engine.images, source, platform=plat):
        if not p.opts["quiet"]:
            sys.stdout.write("".join(line + "\n" for line in loaded.lines()))
    return 0


EXPORT = CommandSpec("sbx export", "sbx export [OPTIONS] CONTAINER",
                     "Export a container's filesystem as a tar archive", (
    Flag(("-o", "--output"), "output", help="Write to a file, instead of STDOUT"),
), min_args=1, max_args=1, interspersed=True)


def cmd_export(name: str, argv: list[str]) -> int:
    import os

    from sbx.images.export import export_container

    p = parse_or_help(EXPORT, argv)
    if p is None:
        return 0
    engine = open_engine()
    out_path = p.opts["output"]
    if not out_path:
        if sys.stdout.isatty():
            raise InvalidArgument("cowardly refusing to save to a terminal",
                                  hint="use the -o flag or redirect")
        export_container(engine, p.args[0], sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return 0
    tmp = f"{out_path}.sbx-{os.getpid()}.tmp"
    try:
        with open(tmp, "wb") as f:
            export_container(engine, p.args[0], f)
        os.replace(tmp, out_path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return 0


BOOTSTRAP = CommandSpec("sbx bootstrap", "sbx bootstrap [OPTIONS] debian:SUITE|ubuntu:SUITE",
                        "Make a Debian or Ubuntu base image with mmdebstrap", (
    Flag(("--variant",), "variant", default="minbase",
         help="Package set: minbase, buildd, important, standard... (default minbase)"),
    Flag(("--include",), "include", multiple=True, help="Extra packages (comma separated)"),
    Flag(("-t", "--tag"), "tag", help="Name the image (default: the argument)"),
    Flag(("--mirror",), "mirror", help="Apt mirror URL (default: the machine's apt sources)"),
    Flag(("--arch",), "arch", help="Debian architecture (default: this machine's)"),
), min_args=1, max_args=1, interspersed=True)


def cmd_bootstrap(name: str, argv: list[str]) -> int:
    from sbx.images.bootstrap import BootstrapSpec, bootstrap, start_unprivileged

    p = parse_or_help(BOOTSTRAP, argv)
    if p is None:
        return 0
    o = p.opts
    spec = BootstrapSpec.parse(p.args[0], tag=o["tag"], variant=o["variant"] or "minbase",
                               include=tuple(o["include"]), mirror=o["mirror"],
                               architecture=o["arch"])
    started = start_unprivileged(spec)
    try:
        engine = open_engine()
        engine.require_root("bootstrapping an image")
        rec = bootstrap(engine.images, spec, out=sys.stderr, started=started)
    finally:
        if started is not None and started.poll() is None:
            started.kill()
            started.wait()
    sys.stdout.write(f"{rec.id}\n")
    return 0
