"""Open a file by a path resolved *inside* a directory, as if that directory were ``/``.

``openat2(dirfd, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`` (Linux 5.6+): ``..`` and
absolute symlink targets stop at the root, so a symlink in a build context that points at
``/etc/shadow`` opens the context's own ``etc/shadow`` (usually: no such file), never the
host's.  This is how BuildKit reads a Dockerfile and ``.dockerignore`` (paths are scoped to
the context).  On kernels without ``openat2`` each component is opened with ``O_NOFOLLOW``
instead, which refuses every symlink (stricter, never looser).
"""

from __future__ import annotations

import ctypes
import errno
import os

_NR_OPENAT2 = 437  # the same on x86_64 and aarch64 (the unified table)
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_IN_ROOT = 0x10

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


_HAVE: list[bool] = []


def _openat2(dirfd: int, path: str, flags: int) -> int:
    how = _OpenHow(flags | os.O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)
    fd = _libc.syscall(_NR_OPENAT2, ctypes.c_int(dirfd), os.fsencode(path), ctypes.byref(how),
                       ctypes.c_size_t(ctypes.sizeof(how)))
    if fd < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), path)
    return int(fd)


def _nofollow_walk(dirfd: int, path: str, flags: int) -> int:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise OSError(errno.ENOENT, os.strerror(errno.ENOENT), path)
    fd = os.dup(dirfd)
    try:
        for part in parts[:-1]:
            nxt = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return os.open(parts[-1], flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    finally:
        os.close(fd)


def open_in_root(root: str | os.PathLike[str], path: str, flags: int = os.O_RDONLY) -> int:
    """A descriptor for ``path`` resolved inside ``root`` (symlinks, ``..`` and absolute
    targets never leave it).  Raises ``OSError`` (ENOENT when it is not there)."""
    rootfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        if _HAVE != [False]:
            try:
                fd = _openat2(rootfd, path, flags)
                _HAVE[:] = [True]
                return fd
            except OSError as e:
                if e.errno not in (errno.ENOSYS, errno.EPERM) or _HAVE == [True]:
                    raise
                _HAVE[:] = [False]  # no openat2 here (or a seccomp filter hides it)
        return _nofollow_walk(rootfd, path, flags)
    finally:
        os.close(rootfd)


def read_in_root(root: str | os.PathLike[str], path: str) -> bytes:
    """The bytes of the regular file ``path`` resolved inside ``root``.

    The name is first pinned with ``O_PATH`` (nothing is opened: a fifo or a device node
    there is refused before any ``open`` could block or act), then the pinned inode is
    read through ``/proc/self/fd``."""
    import stat

    pin = open_in_root(root, path, os.O_PATH)
    try:
        if not stat.S_ISREG(os.fstat(pin).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        fd = os.open(f"/proc/self/fd/{pin}", os.O_RDONLY | os.O_CLOEXEC)
    finally:
        os.close(pin)
    with os.fdopen(fd, "rb") as f:
        return f.read()
