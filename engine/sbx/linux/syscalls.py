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
