"""``sbx build`` (also ``sbx image build``) and ``sbx builder prune``.

A cache hit is served by ``sbx.build.replay`` before the Dockerfile parser, the image
store or the runtime are imported, so an unchanged build answers in a few milliseconds
more than the interpreter's start-up.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from sbx.cli.flags import CommandSpec, Flag, help_text, parse
from sbx.errors import BuildError, InvalidArgument

BUILD = CommandSpec("sbx build", "sbx build [OPTIONS] PATH | -", "Build an image from a Dockerfile", (
    Flag(("-t", "--tag"), "tags", multiple=True, help="Name and optionally a tag in the 'name:tag' format"),
    Flag(("-f", "--file"), "file", help="Name of the Dockerfile (Default is 'PATH/Dockerfile')"),
    Flag(("--build-arg",), "build_args", multiple=True, help="Set build-time variables"),
    Flag(("--target",), "target", help="Set the target build stage to build"),
    Flag(("--no-cache",), "no_cache", "bool", help="Do not use cache when building the image"),
    Flag(("--pull",), "pull", "bool", help="Always attempt to pull a newer version of the image"),
    Flag(("--network",), "network", default="default",
         help="Set the networking mode for the RUN instructions: default (own namespace "
              "with outbound access), none or host"),
    Flag(("--allow",), "allow", multiple=True,
         help="Allow extra privileged entitlement (network.host: RUN --network=host)"),
    Flag(("--label",), "labels", multiple=True, help="Set metadata for an image"),
    Flag(("-q", "--quiet"), "quiet", "bool", help="Suppress the build output and print image ID on success"),
    Flag(("--iidfile",), "iidfile", help="Write the image ID to the file"),
    Flag(("--progress",), "progress", default="auto",
         help="Set type of progress output (auto, plain)"),
    Flag(("--platform",), "platform", help="Set platform (only the host's is supported)"),
), min_args=1, max_args=1, interspersed=True)

PRUNE = CommandSpec("sbx builder prune", "sbx builder prune [OPTIONS]", "Remove build cache", (
    Flag(("-a", "--all"), "all", "bool", help="Remove all unused build cache, not just dangling ones"),
    Flag(("-f", "--force"), "force", "bool", help="Do not prompt for confirmation"),
), max_args=0)


def _write(data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


def _pairs(items: list[str], what: str, *, optional_value: bool) -> tuple[tuple[str, str | None], ...]:
    out: list[tuple[str, str | None]] = []
    for item in items:
        key, eq, value = item.partition("=")
        if not key:
            raise BuildError(f"invalid {what} {item!r}: expected KEY=VALUE")
        out.append((key, value if eq else (None if optional_value else "")))
    return tuple(out)


def options_from(p: object) -> object:
    from sbx.build.options import ENTITLEMENTS, NETWORKS, BuildOptions
    from sbx.oci.reference import Reference

    o = p.opts  # type: ignore[attr-defined]
    if o["progress"] not in ("auto", "plain", "tty"):
        raise BuildError(f"invalid --progress value {o['progress']!r}", hint="use auto or plain")
    if o["network"] == "bridge":  # Docker's classic builder takes it: the default here
        o["network"] = "default"
    if o["network"] not in NETWORKS:
        raise BuildError(f"invalid --network value {o['network']!r} for a build",
                         hint="RUN steps use default (their own namespace with outbound "
                              "access), none or host")
    for item in o["allow"]:
        if item not in ENTITLEMENTS:
            raise BuildError(f"invalid --allow value {item!r}",
                             hint="the one entitlement sbx knows is network.host")
    for tag in o["tags"]:
        try:
            Reference.parse(tag)
        except InvalidArgument as err:
            raise BuildError(f"invalid tag {tag!r}: {err.message}",
                             hint="use name[:tag], e.g. myapp:1.0") from None
    context = p.args[0]  # type: ignore[attr-defined]
    if context.startswith(("http://", "https://", "git@", "git://")):
        raise BuildError(f"remote build contexts are not supported yet: {context}",
                         hint="clone or download it and build from the directory")
    labels = tuple((k, v or "") for k, v in _pairs(o["labels"], "label", optional_value=False))
    return BuildOptions(
        context=Path(context), dockerfile=Path(o["file"]) if o["file"] else None,
        tags=tuple(o["tags"]), build_args=_pairs(o["build_args"], "build arg", optional_value=True),
        target=o["target"] or None, no_cache=o["no_cache"], pull=o["pull"],
        network=o["network"], labels=labels, quiet=o["quiet"], allow=tuple(o["allow"]))


def cmd_build(name: str, argv: list[str]) -> int:
    try:
        p = parse(BUILD, argv)
    except InvalidArgument as err:  # docker build exits 1 for its own flag errors too
        raise BuildError(err.message, hint=err.hint) from None
    if p.help:
        sys.stdout.write(help_text(BUILD))
        return 0
    opts = options_from(p)
    from sbx.build.options import Progress
    from sbx.build.replay import replay
    from sbx.layout import Layout

    progress = Progress(_write, quiet=opts.quiet)  # type: ignore[attr-defined]
    result = replay(Layout.from_env(), opts, progress)  # type: ignore[arg-type]
    if result is None:
        from sbx.build.session import build
        from sbx.cli.context import open_engine

        engine = open_engine()
        engine.require_root("building images")
        try:
            result = build(engine, opts, progress, stdin=sys.stdin.buffer)  # type: ignore[arg-type]
        except BaseException:
            if progress.quiet and progress.held:
                sys.stderr.buffer.write(b"".join(progress.held))
                sys.stderr.flush()
            raise
    if opts.quiet:  # type: ignore[attr-defined]
        _write(f"{result.image_id}\n".encode())
    if p.opts["iidfile"]:
        Path(p.opts["iidfile"]).write_text(result.image_id)
    return 0


def cmd_builder_prune(name: str, argv: list[str]) -> int:
    p = parse(PRUNE, argv)
    if p.help:
        sys.stdout.write(help_text(PRUNE))
        return 0
    if not p.opts["force"]:
        from sbx.cli.system import confirm

        if not confirm("WARNING! This will remove all dangling build cache."):
            return 0
    from sbx.build.cache import BuildCache
    from sbx.cli.format import human_size
    from sbx.layout import Layout

    result = BuildCache(Layout.from_env()).prune()
    sys.stdout.write(f"Total:\t{human_size(result.reclaimed)}\n")
    return 0
