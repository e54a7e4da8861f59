"""A walk of a directory tree that someone else may be changing, never following a symlink.

A running container writes its upper directory while ``sbx export`` (and later ``cp``,
``diff`` and ``commit``) reads it from the host, as root.  Checking a path with ``lstat``
and then opening it by name leaves a window in which the container swaps a regular file
for a symlink to ``/etc/shadow``, and the host's file lands in the archive.  So nothing here
is ever opened by path:

- a directory is opened from its parent's descriptor (``openat`` with ``O_NOFOLLOW |
  O_DIRECTORY``), and only the tree's root by path;
- every entry is first pinned with ``O_PATH | O_NOFOLLOW`` (a symlink pins the link
  itself, nothing is opened or followed) and its kind comes from ``fstat`` of that
  descriptor, not from a stat of the name;
- a regular file's data is read from that very inode, reopened through
  ``/proc/self/fd/N`` (no device or fifo can be opened that way, since the pinned inode is
  a regular file, and a swap after the pin changes nothing);
- a symlink is read with ``readlinkat(fd, "")`` and reported as a symlink;
- a name that vanishes, or turns into something else mid-walk, is skipped (``None``), not
  an error.

The size written for a file comes from the same ``fstat``; a file that shrinks while it is
read is padded with zeros (as GNU tar does), one that grows is cut at that size, so an
archive stays well formed.

The descriptors a walk yields are valid until the walk moves on; callers read what they
need from the current entry and never keep it.  ``openat2(RESOLVE_IN_ROOT)`` would give the
same guarantee per lookup; one ``openat`` per component from the parent's descriptor needs
no ctypes and works on every kernel sbx supports.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

# a name that is gone, or is no longer what the walk expected, is skipped
_GONE = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ESTALE, errno.EINVAL)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_PIN_FLAGS = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
# the reopen goes through a magic link (/proc/self/fd/N), which jumps to the pinned inode:
# O_NOFOLLOW would refuse the magic link itself
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


class Dir:
    """An open directory, reached from its parent's descriptor (only a root by path)."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> Dir:
        """The root of a walk; the path itself must be a directory, not a symlink to one."""
        return cls(os.open(path, _DIR_FLAGS))

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Dir:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def names(self) -> list[str]:
        """The directory's entries, sorted; an empty list when it was removed meanwhile."""
        try:
            with os.scandir(self.fd) as it:
                return sorted(e.name for e in it)
        except OSError as e:
            if e.errno in _GONE:
                return []
            raise

    def lstat(self, name: str) -> os.stat_result | None:
        """``fstatat(AT_SYMLINK_NOFOLLOW)``: good for deciding, never for opening."""
        try:
            return os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except OSError as e:
            if e.errno in _GONE:
                return None
            raise

    def pin(self, name: str) -> Node | None:
        """An ``O_PATH`` handle on ``name`` itself (a symlink is not followed), or None."""
        try:
            fd = os.open(name, _PIN_FLAGS, dir_fd=self.fd)
        except OSError as e:
            if e.errno in _GONE:
                return None
            raise
        try:
            return Node(fd, os.fstat(fd))
        except BaseException:
            os.close(fd)
            raise

    def subdir(self, name: str) -> Dir | None:
        """``name`` opened as a directory, refusing symlinks; None when it is gone or no
        longer a directory."""
        try:
            return Dir(os.open(name, _DIR_FLAGS, dir_fd=self.fd))
        except OSError as e:
            if e.errno in _GONE:
                return None
            raise

    def xattr(self, key: str) -> bytes | None:
        try:
            return os.getxattr(self.fd, key)
        except OSError:
            return None


@dataclass
class Node:
    """A pinned entry: an ``O_PATH`` descriptor and the ``fstat`` of that descriptor."""

    fd: int
    st: os.stat_result

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Node:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def mode(self) -> int:
        return self.st.st_mode

    def readlink(self) -> str | None:
        """The target of a pinned symlink (``readlinkat(fd, "")``), never followed."""
        if not stat.S_ISLNK(self.st.st_mode):
            return None
        try:
            return os.readlink("", dir_fd=self.fd)
        except OSError as e:
            if e.errno in _GONE:
                return None
            raise

    def open_dir(self) -> Dir | None:
        """The pinned directory opened for listing (the same inode)."""
        if not stat.S_ISDIR(self.st.st_mode):
            return None
        try:
            return Dir(os.open(".", _DIR_FLAGS, dir_fd=self.fd))
        except OSError as e:
            if e.errno in _GONE:
                return None
            raise

    def open_file(self) -> BinaryIO | None:
        """The pinned regular file opened for reading (the same inode, whatever its name
        points at now), or None for anything else."""
        if not stat.S_ISREG(self.st.st_mode):
            return None
        try:
            fd = os.open(f"/proc/self/fd/{self.fd}", _READ_FLAGS)
        except OSError as e:
            if e.errno in _GONE:
                return None
            raise
        try:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != (self.st.st_dev, self.st.st_ino) or not stat.S_ISREG(st.st_mode):
                os.close(fd)  # cannot happen through a magic link; refuse rather than trust
                return None
            os.set_blocking(fd, True)
        except BaseException:
            os.close(fd)
            raise
        return os.fdopen(fd, "rb", buffering=0)

    def xattr(self, f: BinaryIO | None, key: str) -> bytes | None:
        """An xattr of the pinned file, read through its open data descriptor ``f``."""
        if f is None:
            return None
        try:
            return os.getxattr(f.fileno(), key)
        except OSError:
            return None


class ExactReader:
    """Exactly ``size`` bytes of ``f``: cut when it grew, padded with zeros when it shrank."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self._f = f
        self._left = size

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        want = self._left if n is None or n < 0 else min(n, self._left)
        data = self._f.read(want) or b""
        if not data:
            data = bytes(want)  # the file shrank under us
        self._left -= len(data)
        return data


@dataclass(frozen=True)
class Visit:
    """One entry of a walk: its path relative to the root ("a/b") and its pinned node."""

    name: str
    node: Node


def walk(root: Dir, rel: str = "") -> Iterator[Visit]:
    """Sorted pre-order walk under ``root``; directories are descended through their
    pinned inode, so a directory swapped for a symlink is never entered.  Each yielded
    node is closed when the walk moves on."""
    for name in root.names():
        node = root.pin(name)
        if node is None:
            continue
        child = f"{rel}/{name}" if rel else name
        try:
            yield Visit(child, node)
            sub = node.open_dir()
        finally:
            node.close()
        if sub is not None:
            with sub:
                yield from walk(sub, child)
