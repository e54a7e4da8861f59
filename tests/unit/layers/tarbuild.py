"""Build small (hostile or ordinary) layer tars in memory for tests."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field


@dataclass
class Entry:
    name: str
    type: bytes = tarfile.REGTYPE
    data: bytes = b""
    linkname: str = ""
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    devmajor: int = 0
    devminor: int = 0
    pax: dict[str, str] = field(default_factory=dict)


def f(name: str, data: bytes = b"x", mode: int = 0o644, **kw: object) -> Entry:
    return Entry(name, tarfile.REGTYPE, data, mode=mode, **kw)  # type: ignore[arg-type]


def d(name: str, mode: int = 0o755, **kw: object) -> Entry:
    return Entry(name, tarfile.DIRTYPE, mode=mode, **kw)  # type: ignore[arg-type]


def sym(name: str, target: str) -> Entry:
    return Entry(name, tarfile.SYMTYPE, linkname=target, mode=0o777)


def hard(name: str, target: str) -> Entry:
    return Entry(name, tarfile.LNKTYPE, linkname=target, mode=0o644)


def chr_dev(name: str, major: int, minor: int) -> Entry:
    return Entry(name, tarfile.CHRTYPE, mode=0o666, devmajor=major, devminor=minor)


def build(*entries: Entry) -> bytes:
    """A tar (PAX format) with exactly these entries, in this order, names kept verbatim."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            ti = tarfile.TarInfo(e.name)
            ti.type = e.type
            ti.mode = e.mode if e.mode is not None else 0o644
            ti.uid, ti.gid = e.uid, e.gid
            ti.mtime = 1_700_000_000
            ti.linkname = e.linkname
            ti.devmajor, ti.devminor = e.devmajor, e.devminor
            if e.pax:
                ti.pax_headers = dict(e.pax)
            if e.type == tarfile.REGTYPE:
                ti.size = len(e.data)
                tar.addfile(ti, io.BytesIO(e.data))
            else:
                tar.addfile(ti)
    return buf.getvalue()


def tarinfo(name: str, type: bytes = tarfile.REGTYPE, *, linkname: str = "",
            mode: int = 0o644) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = type
    ti.linkname = linkname
    ti.mode = mode
    return ti
