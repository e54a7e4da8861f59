"""Create one vetted tar member on disk: the unpacker's own writer, in place of ``TarFile.extract``.

By the time a member gets here ``sbx.layers.safety`` has normalised and checked it (a
relative name without ``..``, an allowed type, a hardlink target inside the layer, the
mode bits we keep) and the unpacker has checked it against the tree (no existing
ancestor is a symlink or a non-directory, a hardlink target is a regular file already
extracted, an existing entry at the name has been removed unless both are directories).
So the path ``dest/name`` cannot leave ``dest``; this module only creates the entry, and
creates it defensively anyway: files with ``O_CREAT|O_EXCL|O_NOFOLLOW``, owners and times
set on the descriptor or without following links.  It is what makes unpacking fast: no
``realpath`` per member, no second set of path checks, one ``open`` and one ``write``
loop per file.
"""

from __future__ import annotations

import os
import stat
import tarfile
from typing import BinaryIO

from sbx.errors import StoreError
from sbx.layers.safety import unsafe

_O_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_COPY_CHUNK = 1 << 20


def _copy(src: BinaryIO, fd: int, size: int, name: str) -> None:
    left = size
    while left > 0:
        data = src.read(min(_COPY_CHUNK, left))
        if not data:
            raise StoreError(f"layer tar is truncated in the data of {name!r}",
                             hint="the download or file was cut short; fetch it again")
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        left -= len(data)


class Writer:
    """Creates members under ``dest`` (a directory path string) from a tar stream."""

    def __init__(self, dest: str, *, owner: bool) -> None:
        self.dest = dest
        self.owner = owner and os.geteuid() == 0

    def path(self, name: str) -> str:
        """``dest/name``; a name that is not a clean relative path is refused (a backstop:
        the safety passes already normalised it)."""
        if name == ".":
            return self.dest
        if name.startswith("/") or name == ".." or name.startswith("../") or "/../" in name \
                or name.endswith("/..") or "\x00" in name:
            raise unsafe(name, "the path leaves the layer root")
        return f"{self.dest}/{name}"

    def make_parents(self, name: str) -> list[str]:
        """Create the missing ancestors of ``name`` (0755, like tar); returns those created."""
        parent = name.rpartition("/")[0]
        if not parent:
            return []
        made: list[str] = []
        parts = parent.split("/")
        for i in range(len(parts)):
            sub = "/".join(parts[: i + 1])
            try:
                os.mkdir(self.path(sub), 0o755)
                made.append(sub)
            except FileExistsError:
                continue
        return made

    def write(self, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
        """Create ``m`` (not a directory; directories are :meth:`mkdir`)."""
        path = self.path(m.name)
        if m.isreg():
            self._file(tar, m, path)
        elif m.issym():
            os.symlink(m.linkname, path)
            self._attrs(m, path, follow=False)
        elif m.islnk():
            os.link(self.path(m.linkname), path, follow_symlinks=False)
        elif m.isfifo():
            os.mkfifo(path, 0o600)
            self._attrs(m, path)
        elif m.ischr() or m.isblk():
            kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK
            os.mknod(path, kind | 0o600, os.makedev(m.devmajor, m.devminor))
            self._attrs(m, path)
        else:  # pragma: no cover - safety.check_type refused every other type
            raise unsafe(m, f"unsupported tar entry type {m.type!r}")

    def mkdir(self, m: tarfile.TarInfo) -> None:
        """Create a directory (mode, owner and times are applied at the end by the caller)."""
        try:
            os.mkdir(self.path(m.name), 0o700)
        except FileExistsError:
            st = os.lstat(self.path(m.name))
            if not stat.S_ISDIR(st.st_mode):
                raise unsafe(m, "a non-directory is in the way") from None

    def _file(self, tar: tarfile.TarFile, m: tarfile.TarInfo, path: str) -> None:
        fd = os.open(path, _O_FILE, 0o600)
        try:
            if m.size:
                src = tar.fileobj
                assert src is not None
                src.seek(m.offset_data)
                _copy(src, fd, m.size, m.name)  # type: ignore[arg-type]
            if self.owner and m.uid is not None and m.gid is not None:
                os.fchown(fd, m.uid, m.gid)
            os.fchmod(fd, m.mode)  # after chown, which clears setuid bits
            os.utime(fd, (m.mtime, m.mtime))
        finally:
            os.close(fd)

    def _attrs(self, m: tarfile.TarInfo, path: str, *, follow: bool = True) -> None:
        """Owner, mode and time of a non-regular entry, never following a symlink."""
        if self.owner and m.uid is not None and m.gid is not None:
            os.chown(path, m.uid, m.gid, follow_symlinks=False)
        if follow:  # fifos and devices: the entry itself, just created (never a symlink)
            os.chmod(path, m.mode)
        os.utime(path, (m.mtime, m.mtime), follow_symlinks=False)
