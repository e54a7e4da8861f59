"""COPY and ADD without a container: the files are written straight into a layer tar.

Docker's rules: a relative destination is under WORKDIR; several sources (or a
wildcard) need a destination ending in ``/``; a directory source copies its contents; a
single file goes to ``dest/name`` when ``dest`` ends in ``/`` or is a directory in the
image, else to ``dest`` itself.  Owners are 0:0 unless ``--chown`` (numbers, or names
looked up in the image's ``/etc/passwd`` and ``/etc/group``; a user without a group uses
the same number as its gid), ``--chmod`` sets the permission bits, missing parent
directories are created (0755, owned as ``--chown`` says) and existing ones keep their
metadata.  ``ADD`` unpacks a local tar (plain, gzip, bzip2, xz) into the destination.
The tar is deterministic: entries sorted, parents first, numeric owners only.
"""

from __future__ import annotations

import io
import os
import posixpath
import stat
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from sbx.build.rootview import RootView
from sbx.errors import BuildError

_CHUNK = 1 << 20
_ARCHIVE_MAGIC = (b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00")


@dataclass(frozen=True)
class Owner:
    uid: int
    gid: int


@dataclass(frozen=True)
class Entry:
    """One thing to copy: a file/dir/link from the host (``host``), inline bytes
    (heredocs, ``data``), with ``rel`` its path below the copied item."""

    rel: str
    st: os.stat_result | None = None
    host: Path | None = None
    data: bytes | None = None


@dataclass(frozen=True)
class Item:
    """One source: its base name, whether it is a directory (its entries are then copied
    into the destination), and the entries (for a file: one, with ``rel`` "")."""

    name: str
    is_dir: bool
    entries: tuple[Entry, ...] = field(default_factory=tuple)
    archive: bool = False
    keep_owner: bool = False


def parse_chmod(spec: str | None) -> int | None:
    if spec is None:
        return None
    try:
        mode = int(spec, 8)
    except ValueError:
        mode = -1
    if not 0 <= mode <= 0o7777:
        raise BuildError(f"invalid --chmod={spec}: expected an octal mode such as 755",
                         hint="symbolic modes (u+x) are not supported")
    return mode


def _lookup(view: RootView, file: str, name: str, what: str) -> tuple[int, int]:
    data = view.read(file)
    if data is None:
        raise BuildError(f"unable to find {what} {name}: no {file} in the image",
                         hint="use numeric ids with --chown, e.g. --chown=1000:1000")
    for line in data.decode("utf-8", "replace").splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] == name:
            try:
                return int(fields[2]), int(fields[3]) if len(fields) > 3 and fields[3].isdigit() else -1
            except ValueError:
                break
    raise BuildError(f"unable to find {what} {name}: no matching entries in {file}",
                     hint=f"create the {what} in an earlier RUN, or use numeric ids")


def parse_chown(spec: str | None, view: RootView) -> Owner | None:
    """``--chown=user[:group]`` with names resolved in the image being built."""
    if not spec:
        return None
    user, _, group = spec.partition(":")
    uid = int(user) if user.isdigit() else _lookup(view, "/etc/passwd", user, "user")[0]
    if not group:
        return Owner(uid, uid)
    gid = int(group) if group.isdigit() else _lookup(view, "/etc/group", group, "group")[0]
    return Owner(uid, gid)


def is_archive(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return False
    return head.startswith(_ARCHIVE_MAGIC) or head[257:262] == b"ustar"


class LayerTar:
    """Writes a layer tar, creating each directory entry once and parents first."""

    def __init__(self, out: BinaryIO, view: RootView, owner: Owner | None) -> None:
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT,
                                bufsize=_CHUNK)
        self.view = view
        self.owner = owner
        self.dirs: set[str] = set()

    def close(self) -> None:
        self.tar.close()

    def _info(self, path: str, type_: bytes, mode: int, uid: int, gid: int, mtime: float) -> tarfile.TarInfo:
        ti = tarfile.TarInfo(path.lstrip("/"))
        ti.type = type_
        ti.mode = mode
        ti.uid, ti.gid = uid, gid
        ti.uname = ti.gname = ""
        ti.mtime = int(mtime)
        return ti

    def parents(self, path: str) -> None:
        """Directory entries for every parent of ``path``: existing ones as they are."""
        parts = [p for p in path.split("/") if p][:-1]
        for i in range(1, len(parts) + 1):
            self.directory("/" + "/".join(parts[:i]))

    def directory(self, path: str, mode: int = 0o755, *, created_owner: Owner | None = None,
                  st: os.stat_result | None = None) -> None:
        if path in self.dirs or path == "/":
            return
        self.dirs.add(path)
        _, _, existing = self.view.resolve(path, follow=False)
        if existing is not None and stat.S_ISDIR(existing.st_mode) and st is None:
            ti = self._info(path, tarfile.DIRTYPE, stat.S_IMODE(existing.st_mode),
                            existing.st_uid, existing.st_gid, existing.st_mtime)
        else:
            owner = created_owner or self.owner or Owner(0, 0)
            ti = self._info(path, tarfile.DIRTYPE, mode, owner.uid, owner.gid,
                            st.st_mtime if st is not None else 0)
        self.tar.addfile(ti)

    def entry(self, path: str, e: Entry, *, chmod: int | None, keep_owner: bool) -> None:
        owner = self.owner or Owner(0, 0)
        if e.data is not None:  # heredocs (0644) and downloads (their file's mode, 0600)
            mode = stat.S_IMODE(e.st.st_mode) if e.st is not None else 0o644
            ti = self._info(path, tarfile.REGTYPE, chmod if chmod is not None else mode,
                            owner.uid, owner.gid, 0)
            ti.size = len(e.data)
            self.tar.addfile(ti, io.BytesIO(e.data))
            return
        assert e.st is not None and e.host is not None
        st = e.st
        if keep_owner and self.owner is None:
            owner = Owner(st.st_uid, st.st_gid)
        mode = chmod if chmod is not None else stat.S_IMODE(st.st_mode)
        if stat.S_ISDIR(st.st_mode):
            self.dirs.discard(path)
            self.directory(path, mode, created_owner=owner, st=st)
        elif stat.S_ISLNK(st.st_mode):
            ti = self._info(path, tarfile.SYMTYPE, 0o777, owner.uid, owner.gid, st.st_mtime)
            ti.linkname = os.readlink(e.host)
            self.tar.addfile(ti)
        elif stat.S_ISREG(st.st_mode):
            ti = self._info(path, tarfile.REGTYPE, mode, owner.uid, owner.gid, st.st_mtime)
            ti.size = st.st_size
            with open(e.host, "rb") as f:
                self.tar.addfile(ti, f)
        # sockets, fifos and devices in a context are skipped, as Docker does

    def archive(self, dest_dir: str, host: Path) -> None:
        """ADD's auto-extraction: the archive's members below ``dest_dir``."""
        try:
            with tarfile.open(host, mode="r:*") as src:
                for m in src:
                    name = posixpath.normpath("/" + m.name).lstrip("/")
                    if not name or name == ".":
                        continue
                    path = f"{dest_dir.rstrip('/')}/{name}"
                    self.parents(path)
                    if m.isdir():
                        if path not in self.dirs:
                            self.dirs.add(path)
                            self.tar.addfile(self._copy(m, path))
                        continue
                    ti = self._copy(m, path)
                    if m.islnk():
                        ti.linkname = f"{dest_dir.strip('/')}/{posixpath.normpath('/' + m.linkname).lstrip('/')}"
                    self.tar.addfile(ti, src.extractfile(m) if m.isreg() else None)
        except tarfile.TarError as err:
            raise BuildError(f"ADD failed: cannot unpack {host.name}: {err}") from None

    def _copy(self, m: tarfile.TarInfo, path: str) -> tarfile.TarInfo:
        ti = self._info(path, m.type, m.mode, m.uid, m.gid, m.mtime)
        if self.owner is not None:
            ti.uid, ti.gid = self.owner.uid, self.owner.gid
        ti.size, ti.linkname = m.size, m.linkname
        ti.devmajor, ti.devminor = m.devmajor, m.devminor
        return ti


def destination(dest: str, workdir: str) -> str:
    """The absolute destination (a relative one is under WORKDIR); keeps a trailing ``/``."""
    slash = dest.endswith("/") or dest in (".", "./") or dest.endswith("/.")
    path = posixpath.normpath(posixpath.join(workdir or "/", dest))
    return path.rstrip("/") + "/" if slash else path


def write_layer(out: BinaryIO, view: RootView, dest: str, workdir: str, items: list[Item], *,
                owner: Owner | None, chmod: int | None, multiple: bool, what: str = "COPY") -> None:
    """Write the layer tar for one COPY/ADD into ``out``."""
    target = destination(dest, workdir)
    if multiple and not target.endswith("/"):
        raise BuildError(f"When using {what} with more than one source file, the destination "
                         f"must be a directory and end with a /",
                         hint=f"write the destination as {dest}/")
    layer = LayerTar(out, view, owner)
    base = target.rstrip("/") or "/"
    resolved, _, _ = view.resolve(base)  # follow the links the image has on the way
    into_dir = target.endswith("/") or view.is_dir(base)
    try:
        for item in items:
            if item.archive or item.is_dir:
                layer.parents(resolved + "/x")
                layer.directory(resolved, created_owner=owner)
                if item.archive:
                    assert item.entries[0].host is not None
                    layer.archive(resolved, item.entries[0].host)
                    continue
                for e in item.entries:
                    path = f"{resolved.rstrip('/')}/{e.rel}"
                    layer.parents(path)
                    layer.entry(path, e, chmod=chmod, keep_owner=item.keep_owner)
                continue
            path = f"{resolved.rstrip('/')}/{item.name}" if into_dir else resolved
            layer.parents(path)
            layer.entry(path, item.entries[0], chmod=chmod, keep_owner=item.keep_owner)
    finally:
        layer.close()
