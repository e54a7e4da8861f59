"""``sbx export``: a container's merged filesystem as one tar, without mounting anything.

The container's view is its upper directory over the image layers.  Rather than mount
that overlay (and risk leaving a mount behind), the directories are merged here exactly
as overlayfs merges them: the topmost entry of a name wins; a char device 0/0 (a
whiteout) hides the name in every layer below; a directory merges with the directories
below it until one is opaque (``trusted.overlay.opaque=y``) or a layer has a
non-directory there.  The tar is a plain root filesystem (no ``.wh.*`` entries), entries
in sorted pre-order, numeric owners, hardlinks kept within one layer.  Volumes and the
``/etc/hosts``-style files sbx bind-mounts are not part of it, as with ``docker export``.

A running container changes its upper directory while it is read, as root, on the host:
every entry is reached through ``sbx.layers.walk`` (directory descriptors, ``O_NOFOLLOW``,
the header and the data from one pinned inode), so a symlink the container plants is
archived as a symlink and never followed, and a file that vanishes is left out.
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
from sbx.layers.walk import Dir, ExactReader, Node

_KEPT_XATTRS = ("security.capability",)


def _is_opaque(d: Dir) -> bool:
    return any(d.xattr(f"{prefix}opaque") == b"y" for prefix in wh.OVERLAY_XATTR_PREFIXES)


def _below(dirs: Sequence[Dir], start: int, name: str) -> list[Dir]:
    """Directories named ``name`` in the layers under ``start`` that merge with it (opened;
    the caller closes them)."""
    out: list[Dir] = []
    for d in dirs[start + 1:]:
        st = d.lstat(name)
        if st is None:
            continue
        if not stat.S_ISDIR(st.st_mode):
            break  # a file or whiteout there hides everything further down
        sub = d.subdir(name)
        if sub is None:
            continue
        out.append(sub)
        if _is_opaque(sub):
            break
    return out


def merged(layers: Sequence[Path]) -> Iterator[tuple[str, Node]]:
    """``(name, pinned node)`` of the merged tree of ``layers`` (topmost first), pre-order.

    Each node is closed when the iteration moves on."""
    top: list[Dir] = []
    try:
        for p in layers:
            try:
                d = Dir.open(p)
            except (FileNotFoundError, NotADirectoryError):
                continue
            top.append(d)
            if _is_opaque(d):
                break
        yield from _walk("", top)
    finally:
        for d in top:
            d.close()


def _walk(rel: str, dirs: list[Dir]) -> Iterator[tuple[str, Node]]:
    # Which layer each name comes from (decided with fstatat; nothing is opened by name)
    owner: dict[str, int] = {}
    for i, d in enumerate(dirs):
        for name in d.names():
            owner.setdefault(name, i)
    for name in sorted(owner):
        i = owner[name]
        node = dirs[i].pin(name)
        if node is None:
            continue  # gone since it was listed
        child = f"{rel}/{name}" if rel else name
        sub: list[Dir] = []
        try:
            if wh.is_overlay_whiteout(node.st):
                continue
            yield child, node
            here = node.open_dir()
            if here is not None:
                sub = [here] if _is_opaque(here) else [here, *_below(dirs, i, name)]
        finally:
            node.close()
        if sub:
            try:
                yield from _walk(child, sub)
            finally:
                for d in sub:
                    d.close()


def _info(name: str, st: os.stat_result) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mtime = int(st.st_mtime)
    return ti


def export(layers: Sequence[Path], out: BinaryIO, *,
           idmaps: tuple[tuple, tuple] | None = None) -> int:
    """Write the merged tree of ``layers`` (container upper dir first) as a tar; returns entries.
    ``idmaps`` (``--userns=auto``): the container's uid and gid maps; owners in its range
    (what it wrote in its upper dir) are archived as the ids it saw."""
    links: dict[tuple[int, int], str] = {}
    count = 0
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=CHUNK) as tar:
        tar.copybufsize = CHUNK  # type: ignore[attr-defined]  # missing from typeshed
        for name, node in merged(layers):
            st = node.st
            ti = _info(name, st)
            if idmaps is not None:
                from sbx.runtime.userns_auto import inside_id

                ti.uid, ti.gid = inside_id(idmaps[0], ti.uid), inside_id(idmaps[1], ti.gid)
            mode = st.st_mode
            if stat.S_ISDIR(mode):
                ti.type = tarfile.DIRTYPE
            elif stat.S_ISLNK(mode):
                target = node.readlink()
                if target is None:
                    continue  # replaced since it was pinned: leave it out
                ti.type = tarfile.SYMTYPE
                ti.linkname = target
            elif stat.S_ISREG(mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in links:
                    ti.type = tarfile.LNKTYPE
                    ti.linkname = links[key]
                else:
                    f = node.open_file()
                    if f is None:
                        continue
                    with f:
                        if st.st_nlink > 1:
                            links[key] = name
                        ti.type = tarfile.REGTYPE
                        ti.size = st.st_size
                        for x in _KEPT_XATTRS:
                            value = node.xattr(f, x)
                            if value is not None:
                                ti.pax_headers[f"SCHILY.xattr.{x}"] = value.decode("utf-8", "surrogateescape")  # type: ignore[index]
                        tar.addfile(ti, ExactReader(f, st.st_size))  # type: ignore[arg-type]
                    count += 1
                    continue
            elif stat.S_ISFIFO(mode):
                ti.type = tarfile.FIFOTYPE
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                ti.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
                ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            else:
                continue  # sockets cannot be archived
            tar.addfile(ti)
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
    idmaps = (rec.spec.uid_map, rec.spec.gid_map) if rec.spec.uid_map else None
    if files.driver() == "copy" and (files.work / "populated").exists():
        return export([files.upper], out, idmaps=idmaps)  # the copy driver's upper is the whole root
    return export([files.upper, *lowers], out, idmaps=idmaps)
