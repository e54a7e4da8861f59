"""Image commands: images, import, tag, rmi, image prune, image inspect."""

from __future__ import annotations

import sys
from typing import Any

from sbx.cli.context import open_engine, parse_or_help
from sbx.cli.flags import CommandSpec, Flag
from sbx.errors import SbxError

IMAGES = CommandSpec("sbx images", "sbx images [OPTIONS] [REPOSITORY[:TAG]]", "List images", (
    Flag(("-a", "--all"), "all", "bool", help="Show all images (default hides intermediate images)"),
    Flag(("-q", "--quiet"), "quiet", "bool", help="Only show image IDs"),
    Flag(("--digests",), "digests", "bool", help="Show digests"),
    Flag(("-f", "--filter"), "filter", multiple=True, help="Filter output based on conditions provided", metavar="filter"),
    Flag(("--format",), "format", help="Format output using a Go template or 'json'"),
    Flag(("--no-trunc",), "no_trunc", "bool", help="Don't truncate output"),
), max_args=1, interspersed=True)


def cmd_images(name: str, argv: list[str]) -> int:
    from sbx.cli import views
    from sbx.cli.filters import IMAGE_FILTERS, Filters, ImageFacts, path_match
    from sbx.cli.template import render

    p = parse_or_help(IMAGES, argv)
    if p is None:
        return 0
    o = p.opts
    engine = open_engine()
    flt = Filters.parse(o["filter"], IMAGE_FILTERS) if o["filter"] else None
    rows = []
    seen_ids = []
    for img in sorted(engine.images.images(all=o["all"]), key=lambda i: -views.image_created(i)):
        if flt:
            facts = ImageFacts(str(img.id), tuple(img.repo_tags), img.image.config.label_map(),
                               views.image_created(img))
            if not flt.match_image(facts):
                continue
        tags = list(img.repo_tags) or ["<none>:<none>"]
        for rt in tags:
            repo, _, tag = rt.rpartition(":")
            if p.args and not (path_match(p.args[0], repo) or path_match(p.args[0], rt)):
                continue
            digest = next((d.split("@", 1)[1] for d in getattr(img, "repo_digests", ()) if d.startswith(repo + "@")), "<none>")
            rows.append(views.ImageRow(img, repo, tag, trunc=not o["no_trunc"], digest=digest))
            seen_ids.append(img.id)
    if o["quiet"]:
        out, done = [], set()
        for r in rows:
            if r.ID not in done:
                done.add(r.ID)
                out.append(r.ID + "\n")
        sys.stdout.write("".join(out))
        return 0
    fmt = o["format"] or views.IMAGES_TABLE
    if fmt == views.IMAGES_TABLE and o["digests"]:
        fmt = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
    if fmt == "json":
        fmt = "{{json .}}"
    sys.stdout.write(render(fmt, rows, views.IMAGES_HEADERS))
    return 0


IMPORT = CommandSpec("sbx import", "sbx import [OPTIONS] file|- [REPOSITORY[:TAG]]",
                     "Import the contents of a tarball to create a filesystem image", (
    Flag(("-c", "--change"), "change", multiple=True, help="Apply Dockerfile instruction to the created image", metavar="list"),
    Flag(("-m", "--message"), "message", help="Set commit message for imported image"),
    Flag(("--platform",), "platform", help="Set platform if server is multi-platform capable"),
), min_args=1, max_args=2, interspersed=True)


def cmd_import(name: str, argv: list[str]) -> int:
    p = parse_or_help(IMPORT, argv)
    if p is None:
        return 0
    engine = open_engine()
    engine.require_root("importing an image")
    src = p.args[0]
    ref = p.args[1] if len(p.args) > 1 else None
    changes = _changes(p.opts["change"]) if p.opts["change"] else None
    if src == "-":
        rec = engine.images.import_rootfs(sys.stdin.buffer, ref, message=p.opts["message"] or "",
                                          changes=changes)
    else:
        try:
            f = open(src, "rb")
        except OSError as e:
            from sbx.errors import NotFound

            raise NotFound(f"cannot open {src}: {e.strerror}", hint="give the path of a tar file, or - for stdin") from None
        with f:
            rec = engine.images.import_rootfs(f, ref, message=p.opts["message"] or "", changes=changes)
    sys.stdout.write(str(rec.id) + "\n")
    return 0


def _changes(items: list[str]) -> Any:
    """``--change 'CMD ["sh"]'`` and friends, read by the Dockerfile parser."""
    from sbx.build.dockerfile import instructions as ins
    from sbx.build.dockerfile import parse as parse_dockerfile
    from sbx.errors import InvalidArgument
    from sbx.oci.image import ImageConfig

    df = parse_dockerfile("FROM scratch\n" + "\n".join(items) + "\n", path="--change")
    cfg: dict[str, Any] = {}
    for raw in df.stages[0].instructions:
        i = df.expand(raw, {})
        if isinstance(i, (ins.Cmd, ins.Entrypoint)):
            argv = list(i.command.args) if i.command.exec_form else ["/bin/sh", "-c", *i.command.args]
            cfg["Cmd" if isinstance(i, ins.Cmd) else "Entrypoint"] = argv
        elif isinstance(i, ins.Env):
            cfg.setdefault("Env", []).extend(f"{kv.key}={kv.value}" for kv in i.pairs)
        elif isinstance(i, ins.Label):
            cfg.setdefault("Labels", {}).update({kv.key: kv.value for kv in i.pairs})
        elif isinstance(i, ins.Workdir):
            cfg["WorkingDir"] = i.path
        elif isinstance(i, ins.User):
            cfg["User"] = i.user
        elif isinstance(i, ins.Expose):
            cfg.setdefault("ExposedPorts", {}).update({(p if "/" in p else p + "/tcp"): {} for p in i.ports})
        elif isinstance(i, ins.StopSignal):
            cfg["StopSignal"] = i.signal
        else:
            raise InvalidArgument(f"{raw.keyword} is not supported by --change",
                                  hint="use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER or WORKDIR")
    return ImageConfig.from_json(cfg)


TAG = CommandSpec("sbx tag", "sbx tag SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
                  "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", (), min_args=2, max_args=2)


def cmd_tag(name: str, argv: list[str]) -> int:
    p = parse_or_help(TAG, argv)
    if p is None:
        return 0
    open_engine().images.tag(p.args[0], p.args[1])
    return 0


RMI = CommandSpec("sbx rmi", "sbx rmi [OPTIONS] IMAGE [IMAGE...]", "Remove one or more images", (
    Flag(("-f", "--force"), "force", "bool", help="Force removal of the image"),
    Flag(("--no-prune",), "no_prune", "bool", help="Do not delete untagged parents"),
), min_args=1, interspersed=True)


def cmd_rmi(name: str, argv: list[str]) -> int:
    p = parse_or_help(RMI, argv)
    if p is None:
        return 0
    engine = open_engine()
    used = engine.images_in_use()
    code = 0
    for ref in p.args:
        try:
            res = engine.images.remove_image(ref, force=p.opts["force"],
                                             in_use=lambda iid: used.get(str(iid), []))
        except SbxError as e:
            sys.stderr.write(f"sbx: {e.one_line()}\n")
            code = 1
            continue
        for line in _removal_lines(res):
            sys.stdout.write(line + "\n")
    return code


def _removal_lines(events: Any) -> list[str]:
    return [str(e) for e in events]


IPRUNE = CommandSpec("sbx image prune", "sbx image prune [OPTIONS]", "Remove unused images", (
    Flag(("-a", "--all"), "all", "bool", help="Remove all unused images, not just dangling ones"),
    Flag(("-f", "--force"), "force", "bool", help="Do not prompt for confirmation"),
), max_args=0)


def cmd_image_prune(name: str, argv: list[str]) -> int:
    from sbx.cli.format import human_size
    from sbx.cli.system import confirm

    p = parse_or_help(IPRUNE, argv)
    if p is None:
        return 0
    warn = ("WARNING! This will remove all images without at least one container associated to them."
            if p.opts["all"] else "WARNING! This will remove all dangling images.")
    if not p.opts["force"] and not confirm(warn):
        return 0
    engine = open_engine()
    rep = engine.images.prune(all=p.opts["all"], in_use=set(engine.images_in_use()))
    deleted = list(getattr(rep, "deleted", ()))
    if deleted:
        sys.stdout.write("Deleted Images:\n" + "".join(f"deleted: {d}\n" for d in deleted) + "\n")
    sys.stdout.write(f"Total reclaimed space: {human_size(getattr(rep, 'reclaimed', 0))}\n")
    return 0


def inspect_image(engine: Any, ref: str) -> dict[str, Any]:
    from sbx.cli.format import format_rfc3339_nano

    img = engine.images.resolve(ref)
    doc = img.image.to_dict()
    return {
        "Id": str(img.id),
        "RepoTags": list(img.repo_tags),
        "RepoDigests": list(getattr(img, "repo_digests", ())),
        "Created": img.image.created or format_rfc3339_nano(0),
        "Author": img.image.author,
        "Config": doc.get("config", {}),
        "Architecture": img.image.architecture,
        "Os": img.image.os,
        "Size": img.size,
        "RootFS": {"Type": "layers", "Layers": [str(d) for d in img.image.diff_ids]},
        "History": doc.get("history", []),
    }


IINSPECT = CommandSpec("sbx image inspect", "sbx image inspect [OPTIONS] IMAGE [IMAGE...]",
                       "Display detailed information on one or more images", (
    Flag(("-f", "--format"), "format", help="Format output using a Go template or 'json'"),
), min_args=1, interspersed=True)


def cmd_image_inspect(name: str, argv: list[str]) -> int:
    from sbx.cli.containers import write_docs

    p = parse_or_help(IINSPECT, argv)
    if p is None:
        return 0
    engine = open_engine()
    docs, code = [], 0
    for ref in p.args:
        try:
            docs.append(inspect_image(engine, ref))
        except SbxError:
            sys.stderr.write(f"Error: No such image: {ref}\n")
            code = 1
    write_docs(docs, p.opts["format"])
    return code
