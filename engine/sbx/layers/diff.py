"""Turn an overlayfs upper directory back into a layer tar (for commits, builds and export).

Overlay whiteouts (char device 0/0) become ``.wh.NAME`` entries and opaque directories
(``trusted.overlay.opaque=y`` or ``user.overlay.opaque=y``) get a ``.wh..wh..opq`` entry.
The output is deterministic: entries in sorted pre-order, numeric owners only, no user
or group names, whole-second mtimes, PAX format.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sbx.layers import whiteouts as wh
from sbx.layers.streams import CHUNK

_KEPT_XATTRS = ("security.capability",)


def _walk(root: Path, rel: str = "") -> Iterator[tuple[str, os.DirEntry[str]]]:
    """Sorted pre-order walk, never following symlinks."""
    base = root / rel if rel else root
    with os.scandir(base) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        name = f"{rel}/{entry.name}" if rel else entry.name
        yield name, entry
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(root, name)


def _info(name: str, st: os.stat_result, type_: bytes) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = type_
    ti.mode = stat.S_IMODE(st.st_mode)
    ti.uid, ti.gid = st.st_uid, st.st_gid
    ti.uname = ti.gname = ""
    ti.mtime = int(st.st_mtime)
    return ti


def _xattrs(path: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for name in _KEPT_XATTRS:
        try:
            value = os.getxattr(path, name, follow_symlinks=False)
        except OSError:
            continue
        out[f"SCHILY.xattr.{name}"] = value.decode("utf-8", "surrogateescape")
    return out


def entry_info(name: str, st: os.stat_result, path: str,
               links: dict[tuple[int, int], str]) -> tuple[tarfile.TarInfo, str | None] | None:
    """The tar entry for one file of a tree (not a whiteout), with the path to read its
    data from (or None); hard links to an entry seen before become links.  None for what
    a tar cannot hold (sockets are skipped, as Docker does)."""
    mode = st.st_mode
    if stat.S_ISDIR(mode):
        return _info(name, st, tarfile.DIRTYPE), None
    if stat.S_ISLNK(mode):
        ti = _info(name, st, tarfile.SYMTYPE)
        ti.linkname = os.readlink(path)
        return ti, None
    if stat.S_ISREG(mode):
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            ti = _info(name, st, tarfile.LNKTYPE)
            ti.linkname = links[key]
            return ti, None
        if st.st_nlink > 1:
            links[key] = name
        ti = _info(name, st, tarfile.REGTYPE)
        ti.size = st.st_size
        xattrs = _xattrs(path)
        if xattrs:
            ti.pax_headers = xattrs
        return ti, path
    if stat.S_ISFIFO(mode):
        return _info(name, st, tarfile.FIFOTYPE), None
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        ti = _info(name, st, tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE)
        ti.devmajor, ti.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
        return ti, None
    return None


def members(upper: Path) -> Iterator[tuple[tarfile.TarInfo, str | None]]:
    """The tar entries for an upper dir, each with the path to read its data from (or None)."""
    links: dict[tuple[int, int], str] = {}
    for name, entry in _walk(upper):
        st = entry.stat(follow_symlinks=False)
        if wh.is_overlay_whiteout(st):
            ti = _info(wh.whiteout_name(name), st, tarfile.REGTYPE)
            ti.mode = 0o644
            yield ti, None
            continue
        found = entry_info(name, st, entry.path, links)
        if found is None:
            continue
        yield found
        if stat.S_ISDIR(st.st_mode) and wh.is_overlay_opaque(Path(entry.path)):
            marker = _info(wh.opaque_name(name), st, tarfile.REGTYPE)
            marker.mode = 0o644
            yield marker, None


def write_tar(entries: Iterator[tuple[tarfile.TarInfo, str | None]], out: BinaryIO) -> None:
    """Write ``entries`` as an uncompressed PAX tar to ``out`` (which only needs ``write``)."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,
                      bufsize=CHUNK) as tar:
        tar.copybufsize = CHUNK  # type: ignore[attr-defined]  # missing from typeshed
        for ti, path in entries:
            if path is None:
                tar.addfile(ti)
                continue
            with open(path, "rb") as f:
                tar.addfile(ti, f)


def diff(upper: Path, out: BinaryIO) -> None:
    """Write the layer tar for ``upper`` (uncompressed) to ``out``, which only needs ``write``."""
    write_tar(members(Path(upper)), out)
