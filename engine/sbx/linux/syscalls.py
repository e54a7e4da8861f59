"""Thin ctypes wrappers for the syscalls Python 3.10/3.11 lacks (unshare, setns, mount,
pivot_root, pidfd_open, prctl...).  Every failure raises ``KernelError(step, errno, path)``.
"""

from __future__ import annotations

import ctypes
import os

from sbx.errors import KernelError

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong,
                        ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
_libc.unshare.argtypes = [ctypes.c_int]
_libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
_libc.sethostname.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong,
                        ctypes.c_ulong]
_libc.syscall.restype = ctypes.c_long

_SYSNO = {
    "x86_64": {"pivot_root": 155, "pidfd_open": 434, "pidfd_send_signal": 424},
    "aarch64": {"pivot_root": 41, "pidfd_open": 434, "pidfd_send_signal": 424},
}.get(os.uname().machine, {"pivot_root": 155, "pidfd_open": 434, "pidfd_send_signal": 424})


def _b(s: str | bytes | None) -> bytes | None:
    if s is None:
        return None
    return s if isinstance(s, bytes) else os.fsencode(s)


def _check(rc: int, step: str, path: str = "") -> int:
    if rc < 0:
        raise KernelError(step, ctypes.get_errno(), path)
    return rc


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0, path: str = "") -> None:
    _check(_libc.setns(fd, nstype), "setns", path)


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    rc = _libc.mount(_b(source), _b(target), _b(fstype), flags, _b(data))
    if rc < 0:
        err = ctypes.get_errno()
        what = f"mount {fstype or 'bind'}" + (f" {source}" if source and flags & 4096 else "")
        raise KernelError(what, err, target)


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), flags), "umount", target)


def pivot_root(new_root: str, put_old: str) -> None:
    rc = _libc.syscall(_SYSNO["pivot_root"], _b(new_root), _b(put_old))
    _check(rc, "pivot_root", new_root)


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, len(raw)), "sethostname", name)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return _check(_libc.prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


def pidfd_open(pid: int) -> int:
    """A pollable fd that becomes readable when ``pid`` exits (Linux 5.3+)."""
    rc = _libc.syscall(_SYSNO["pidfd_open"], ctypes.c_int(pid), ctypes.c_uint(0))
    return _check(rc, "pidfd_open", str(pid))


def pidfd_send_signal(pidfd: int, sig: int) -> None:
    rc = _libc.syscall(_SYSNO["pidfd_send_signal"], ctypes.c_int(pidfd), ctypes.c_int(sig),
                       None, ctypes.c_uint(0))
    _check(rc, "pidfd_send_signal")


# -- the new mount API (helper 3's block: read-only recursive binds, the container's cgroup) --
# Same numbers on x86_64 and aarch64 (the unified table from 403 on).
_NR_OPEN_TREE, _NR_MOVE_MOUNT, _NR_MOUNT_SETATTR = 428, 429, 442
AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
OPEN_TREE_CLONE = 1
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def mount_setattr(path: str, attr_set: int, attr_clr: int = 0, *, recursive: bool = False,
                  dfd: int = AT_FDCWD, flags: int = 0, propagation: int = 0,
                  userns_fd: int = 0) -> None:
    """Change the mount flags of the mount at ``path`` (with ``recursive``: of every mount
    below it too, AT_RECURSIVE) in one call (Linux 5.12+); raises KernelError (ENOSYS on
    older kernels)."""
    attr = _MountAttr(attr_set, attr_clr, propagation, userns_fd)
    rc = _libc.syscall(_NR_MOUNT_SETATTR, ctypes.c_int(dfd), _b(path),
                       ctypes.c_uint(flags | (AT_RECURSIVE if recursive else 0)),
                       ctypes.byref(attr), ctypes.c_size_t(ctypes.sizeof(attr)))
    _check(rc, "mount_setattr", path)


def setdomainname(name: str) -> None:
    raw = name.encode()
    _check(_libc.setdomainname(ctypes.c_char_p(raw), ctypes.c_size_t(len(raw))), "setdomainname", name)


def open_tree(path: str, flags: int = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC,
              dfd: int = AT_FDCWD) -> int:
    """A descriptor of the mount at ``path`` (OPEN_TREE_CLONE: a detached copy of it)."""
    rc = _libc.syscall(_NR_OPEN_TREE, ctypes.c_int(dfd), _b(path), ctypes.c_uint(flags))
    return _check(rc, "open_tree", path)


def move_mount(from_fd: int, to_path: str, *, from_path: str = "",
               flags: int = MOVE_MOUNT_F_EMPTY_PATH, to_dfd: int = AT_FDCWD) -> None:
    """Attach the (detached) mount ``from_fd`` at ``to_path``."""
    rc = _libc.syscall(_NR_MOVE_MOUNT, ctypes.c_int(from_fd), _b(from_path),
                       ctypes.c_int(to_dfd), _b(to_path), ctypes.c_uint(flags))
    _check(rc, "move_mount", to_path)
