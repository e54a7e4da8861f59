"""``sbx export``: a container's merged filesystem as one tar, without mounting anything.

The container's view is its upper directory over the image layers.  Rather than mount
that overlay (and risk leaving a mount behind), the directories are merged here exactly
as overlayfs merges them: the topmost entry of a name wins; a char device 0/0 (a
whiteout) hides the name in every layer below; a directory merges with the directories
below it until one is opaque (``trusted.overlay.opaque=y``) or a layer has a
non-directory there.  The tar is a plain root filesystem (no ``.wh.*`` entries), entries
in sorted pre-order, numeric owners, hardlinks kept within one layer.  Volumes and the
``/etc/hosts``-style files sbx bind-mounts are not part of it, as with ``docker export``.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from sbx.layers import whiteouts as wh
from sbx.layers.streams import CHUNK

_KEPT_XATTRS = ("security.capability",)


def _is_opaque(path: str) -> bool:
    return wh.is_overlay_opaque(Path(path))


def _below(dirs: Sequence[str], start: int, name: str) -> list[str]:
    """Directories named ``name`` in the layers under ``start`` that merge with it."""
    out: list[str] = []
    for d in dirs[start + 1:]:
        p = os.path.join(d, name)
        try:
            st = os.lstat(p)
        except (FileNotFoundError, NotADirectoryError):
            continue
        if not stat.S_ISDIR(st.st_mode):
            break  # a file or whiteout there hides everything further down
        out.append(p)
        if _is_opaque(p):
            break
    return out


def merged(layers: Sequence[Path]) -> Iterator[tuple[str, str, os.stat_result]]:
    """``(name, path, stat)`` of the merged tree of ``layers`` (topmost first), pre-order."""
    roots = [str(p) for p in layers if os.path.isdir(p)]
    top: list[str] = []
    for r in roots:
        top.append(r)
        if _is_opaque(r):
            break
    yield from _walk("", top)


def _walk(rel: str, dirs: list[str]) -> Iterator[tuple[str, str, os.stat_result]]:
    seen: set[str] = set()
    found: dict[str, tuple[int, str, os.stat_result]] = {}
    for i, d in enumerate(dirs):
        try:
            entries = list(os.scandir(d))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for e in entries:
            if e.name in seen:
                continue
            seen.add(e.name)
            st = e.stat(follow_symlinks=False)
            if wh.is_overlay_whiteout(st):
                continue
            found[e.name] = (i, e.path, st)
    for name in sorted(found):
        i, path, st = found[name]
        child = f"{rel}/{name}" if rel else name
        yield child, path, st
        if stat.S_ISDIR(st.st_mode):
            sub = [path] if _is_opaque(path) else [path, *_below(dirs, i, name)]
            yield from _walk(child, sub)


def _info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mtime = int(st.st_mtime)
    return ti


def export(layers: Sequence[Path], out: BinaryIO) -> int:
    """Write the merged tree of ``layers`` (container upper dir first) as a tar; returns entries."""
    links: dict[tuple[int, int], str] = {}
    count = 0
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=CHUNK) as tar:
        for name, path, st in merged(layers):
            ti = _info(name, st)
            mode = st.st_mode
            data = None
            if stat.S_ISDIR(mode):
                ti.type = tarfile.DIRTYPE
            elif stat.S_ISLNK(mode):
                ti.type = tarfile.SYMTYPE
                ti.linkname = os.readlink(path)
            elif stat.S_ISREG(mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in links:
                    ti.type = tarfile.LNKTYPE
                    ti.linkname = links[key]
                else:
                    if st.st_nlink > 1:
                        links[key] = name
                    ti.type = tarfile.REGTYPE
                    ti.size = st.st_size
                    data = path
                    for x in _KEPT_XATTRS:
                        try:
                            value = os.getxattr(path, x, follow_symlinks=False)
                        except OSError:
                            continue
                        ti.pax_headers[f"SCHILY.xattr.{x}"] = value.decode("utf-8", "surrogateescape")  # type: ignore[index]
            elif stat.S_ISFIFO(mode):
                ti.type = tarfile.FIFOTYPE
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
                ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            else:
                continue  # sockets cannot be archived
            if data is None:
                tar.addfile(ti)
            else:
                with open(data, "rb") as f:
                    tar.addfile(ti, f)
            count += 1
    return count


def export_container(engine: object, ref: str, out: BinaryIO) -> int:
    """``sbx export CONTAINER``: the container's upper dir over its image's layers."""
    from sbx.engine import Engine

    assert isinstance(engine, Engine)
    rec = engine.get(ref)
    image = engine.images.resolve(rec.spec.image_id)
    lowers = list(reversed(engine.images.layer_paths(image)))
    files = engine.containers.files(rec.id)
    if files.driver() == "copy" and (files.work / "populated").exists():
        return export([files.upper], out)  # the copy driver's upper is the whole root
    return export([files.upper, *lowers], out)
