"""What a COPY or ADD copies: context files, heredoc files, files of an earlier stage or
another image (``--from``), ADD's local archives and URLs -- as ``copying.Item``s with
the content digest that goes into the step's cache key."""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat
from dataclasses import dataclass
from pathlib import Path

from sbx.build.context import _glob_regex, has_wildcard
from sbx.build.copying import Entry, Item, is_archive
from sbx.build.rootview import RootView
from sbx.errors import BuildError

_URL_PREFIXES = ("http://", "https://")
_GIT_PREFIXES = ("git@", "git://")


@dataclass(frozen=True)
class Sources:
    items: list[Item]
    digest: str
    multiple: bool
    summary: str                                 # "file:<hex>" for the history line
    context_patterns: list[str] | None = None    # set when everything came from the context
    replayable: bool = True


def collect(builder: object, st: object, instr: object, what: str) -> Sources:
    """The items of an expanded COPY/ADD instruction (see module docstring)."""
    sources: tuple[str, ...] = instr.sources  # type: ignore[attr-defined]
    contents = instr.contents  # type: ignore[attr-defined]
    items = [Item(doc.name, False, (Entry("", data=doc.data.encode()),)) for doc in contents]
    from_ref = getattr(instr, "from_", None)
    where = f"{builder.file.path}:{instr.line}"  # type: ignore[attr-defined]
    if from_ref:
        image_id, view, replayable = _from_image(builder, from_ref, where)
        items.extend(_from_view(view, sources, what))
        digest = _hash(["from", image_id, list(sources)])
        return Sources(items, digest, len(items) > 1 or len(sources) + len(contents) > 1,
                       f"from:{image_id.split(':')[-1]}", None, replayable)
    remote = [s for s in sources if s.startswith(_URL_PREFIXES + _GIT_PREFIXES)]
    local = [s for s in sources if s not in remote]
    if remote and what == "COPY":
        raise BuildError(f"{where}: COPY cannot copy from a URL ({remote[0]})",
                         hint="use ADD for URLs, or download the file into the context")
    extra_digests = [_download(builder, url, where, items) for url in remote]
    ctx = builder.ctx  # type: ignore[attr-defined]
    selected = ctx.select(local, what=what) if local else []
    for src in selected:
        if src.is_dir:
            prefix = "" if src.target == "." else src.target + "/"
            entries = tuple(Entry(p[len(prefix):], os.lstat(ctx.root / p), ctx.root / p)
                            for p in ctx.entries(src))
            items.append(Item(posixpath.basename(src.rel), True, entries))
        else:
            archive = what == "ADD" and is_archive(src.path)
            items.append(Item(posixpath.basename(src.rel), False,
                              (Entry("", os.stat(src.path), src.path),), archive=archive))
    digest = ctx.digest(selected)
    if extra_digests:
        digest = _hash([digest, *extra_digests])
    kind = "dir" if len(selected) == 1 and selected[0].is_dir else "file"
    multiple = len(sources) + len(contents) > 1 or len(items) > 1
    return Sources(items, digest, multiple, f"{kind if not multiple else 'multi'}:{digest[7:]}",
                   list(local) if not remote else None, not remote)


def _hash(doc: object) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _from_image(builder: object, ref: str, where: str) -> tuple[str, RootView, bool]:
    """``--from``: an earlier stage (name or index) or an image."""
    b = builder
    stages = b.file.stages  # type: ignore[attr-defined]
    for s in stages:
        if (s.name and s.name == ref.lower()) or (ref.isdecimal() and s.index == int(ref)):
            st = b.results.get(s.index)  # type: ignore[attr-defined]
            if st is None or st.image_id is None:
                raise BuildError(f"{where}: COPY --from={ref}: stage has not been built (or is empty)")
            return st.image_id, b._view(st), True  # type: ignore[attr-defined]
    from sbx.errors import NoSuchImage

    try:
        record = b.store.resolve(ref)  # type: ignore[attr-defined]
    except NoSuchImage:
        raise BuildError(f"{where}: COPY --from={ref}: no build stage or local image of that name",
                         hint="name an earlier stage (FROM ... AS name) or an image in the store") from None
    view = RootView([b.store.layer_path(d) for d in record.layer_diff_ids])  # type: ignore[attr-defined]
    return str(record.id), view, False


def _from_view(view: RootView, sources: tuple[str, ...], what: str) -> list[Item]:
    items: list[Item] = []
    for raw in sources:
        path = posixpath.normpath("/" + raw)
        if has_wildcard(path):
            parent, pattern = posixpath.split(path)
            regex = _glob_regex(pattern)
            names = [n for n in view.listdir(parent) if regex.match(n)]
            if not names:
                raise BuildError(f"{what} failed: no source files were specified: {raw!r} matches nothing")
            paths = [posixpath.join(parent, n) for n in names]
        else:
            paths = [path]
        for p in paths:
            _, host, st = view.resolve(p)
            if host is None or st is None:
                raise BuildError(f"{what} failed: stat {raw}: file does not exist in the source image")
            if stat.S_ISDIR(st.st_mode):
                entries = tuple(Entry(rel, s, h) for rel, h, s in view.walk(p))
                items.append(Item(posixpath.basename(p), True, entries, keep_owner=True))
            else:
                items.append(Item(posixpath.basename(p), False, (Entry("", st, host),),
                                  keep_owner=True))
    return items


def _download(builder: object, url: str, where: str, items: list[Item]) -> str:
    """ADD <url>: fetched into scratch space (0600, as Docker), never unpacked."""
    if url.startswith(_GIT_PREFIXES) or url.endswith(".git"):
        raise BuildError(f"{where}: ADD of a git repository is not supported yet ({url})",
                         hint="clone it into the build context and COPY it")
    if os.environ.get("SBX_OFFLINE", "") not in ("", "0"):
        raise BuildError(f"{where}: ADD {url}: cannot download, sbx is offline (SBX_OFFLINE=1)",
                         hint="put the file into the build context and COPY it, or unset SBX_OFFLINE")
    import urllib.request

    scratch: Path = builder.engine.layout.tmp  # type: ignore[attr-defined]
    scratch.mkdir(parents=True, exist_ok=True)
    name = posixpath.basename(url.split("?", 1)[0].rstrip("/")) or "index.html"
    target = scratch / f"build-download-{os.getpid()}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"
    h = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=60) as resp, open(target, "wb") as f:  # noqa: S310
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                h.update(chunk)
                f.write(chunk)
    except OSError as err:
        target.unlink(missing_ok=True)
        raise BuildError(f"{where}: ADD {url}: download failed: {err}") from None
    os.chmod(target, 0o600)
    data = target.read_bytes()
    st = os.stat(target)
    target.unlink(missing_ok=True)
    items.append(Item(name, False, (Entry("", st=st, data=data),)))
    return "sha256:" + h.hexdigest()
