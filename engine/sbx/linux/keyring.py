"""Kernel keyrings: a container's processes join a session keyring of their own (as runc's
``_ses.<container id>``), so they never share the session keyring of whoever started
them (the host's ``_uid_ses.0`` for root, or a login's keyring with its secrets)."""

from __future__ import annotations

import ctypes
import errno as errnos
import os

from sbx.errors import KernelError

KEYCTL_JOIN_SESSION_KEYRING = 1
KEYCTL_SETPERM = 5
KEYCTL_DESCRIBE = 6
KEY_SPEC_SESSION_KEYRING = -3
KEY_USR_SEARCH = 0x00080000
KEY_OTH_SEARCH = 0x00000008

_KEYCTL_NR = {"x86_64": 250, "aarch64": 219, "riscv64": 219, "loongarch64": 219,
              "i686": 288, "i386": 288, "armv7l": 311, "ppc64le": 271, "s390x": 280}
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _keyctl(op: int, *args: object) -> int:
    nr = _KEYCTL_NR.get(os.uname().machine, 250)
    rc = _libc.syscall(nr, ctypes.c_int(op), *args)
    if rc < 0:
        raise KernelError(f"keyctl({op})", ctypes.get_errno())
    return int(rc)


def describe(serial: int) -> str:
    """``type;uid;gid;perm;description`` of a key (KEYCTL_DESCRIBE)."""
    buf = ctypes.create_string_buffer(512)
    n = _keyctl(KEYCTL_DESCRIBE, ctypes.c_int(serial), buf, ctypes.c_size_t(len(buf)))
    return buf.raw[:max(0, min(n, len(buf)) - 1)].decode(errors="replace")


def join_session_keyring(name: str, *, in_userns: bool = False) -> int:
    """Join (or create) the session keyring ``name`` and let the container's later
    processes (``sbx exec``) find it by name: search for its owner, as runc, or for
    "other" inside a user namespace.  Returns its serial, or -1 where the kernel has no
    keyrings (ENOSYS: nothing to leak then)."""
    try:
        serial = _keyctl(KEYCTL_JOIN_SESSION_KEYRING, ctypes.c_char_p(name.encode()))
    except KernelError as e:
        if e.errno == errnos.ENOSYS:
            return -1
        raise KernelError("join a session keyring", e.errno, name,
                          hint="the user's key quota may be used up (/proc/sys/kernel/keys/maxkeys)") from None
    perm = int(describe(serial).split(";")[3], 16)
    perm |= KEY_OTH_SEARCH if in_userns else KEY_USR_SEARCH
    _keyctl(KEYCTL_SETPERM, ctypes.c_int(serial), ctypes.c_uint(perm))
    return serial


def session_name(container_id: str) -> str:
    return f"_ses.{container_id}"
