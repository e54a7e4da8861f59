"""Linux capabilities: Docker's default set, and dropping the rest from the bounding set."""

from __future__ import annotations

import ctypes

from sbx.linux import syscalls
from sbx.linux.consts import PR_CAPBSET_DROP

CAPS = {
    "CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4, "KILL": 5,
    "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9, "NET_BIND_SERVICE": 10,
    "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13, "IPC_LOCK": 14, "IPC_OWNER": 15,
    "SYS_MODULE": 16, "SYS_RAWIO": 17, "SYS_CHROOT": 18, "SYS_PTRACE": 19, "SYS_PACCT": 20,
    "SYS_ADMIN": 21, "SYS_BOOT": 22, "SYS_NICE": 23, "SYS_RESOURCE": 24, "SYS_TIME": 25,
    "SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28, "AUDIT_WRITE": 29, "AUDIT_CONTROL": 30,
    "SETFCAP": 31, "MAC_OVERRIDE": 32, "MAC_ADMIN": 33, "SYSLOG": 34, "WAKE_ALARM": 35,
    "BLOCK_SUSPEND": 36, "AUDIT_READ": 37, "PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
}

# Docker's default capability set (moby oci/caps/defaults.go).
DOCKER_DEFAULT = (
    "CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID", "SETUID",
    "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL", "AUDIT_WRITE",
)


def last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return max(CAPS.values())


def drop_bounding_except(keep: tuple[str, ...] = DOCKER_DEFAULT) -> None:
    """Drop every capability not in ``keep`` from the bounding set.  For uid 0, execve then
    grants exactly the kept set; for other uids execve grants none (as in Docker)."""
    keep_nums = {CAPS[c] for c in keep}
    for cap in range(last_cap() + 1):
        if cap not in keep_nums:
            syscalls.prctl(PR_CAPBSET_DROP, cap)


def parse_cap_list(items: list[str]) -> set[str]:
    out = set()
    for item in items:
        name = item.upper().removeprefix("CAP_")
        if name == "ALL":
            out |= set(CAPS)
            continue
        if name not in CAPS:
            from sbx.errors import InvalidArgument

            raise InvalidArgument(f"unknown capability: {item!r}")
        out.add(name)
    return out


def container_set(cap_add: tuple[str, ...] | list[str] = (),
                  cap_drop: tuple[str, ...] | list[str] = ()) -> tuple[str, ...]:
    """A container's capabilities: Docker's default set with ``--cap-add`` and ``--cap-drop``
    applied (``ALL`` in either as Docker), sorted."""
    keep = set(DOCKER_DEFAULT) | parse_cap_list(list(cap_add))
    keep -= parse_cap_list(list(cap_drop))
    return tuple(sorted(keep))


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_LINUX_CAPABILITY_VERSION_3 = 0x20080522


def _capcall(name: str, data: ctypes.Array) -> None:  # type: ignore[type-arg]
    libc = ctypes.CDLL(None, use_errno=True)
    hdr = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    if getattr(libc, name)(ctypes.byref(hdr), data) < 0:
        from sbx.errors import KernelError

        raise KernelError(name, ctypes.get_errno())


def current_sets() -> tuple[int, int, int]:
    """This thread's (effective, permitted, inheritable) sets as bit masks."""
    data = (_CapData * 2)()
    _capcall("capget", data)
    lo, hi = data[0], data[1]
    return (lo.effective | hi.effective << 32, lo.permitted | hi.permitted << 32,
            lo.inheritable | hi.inheritable << 32)


def mask(names: tuple[str, ...] | set[str]) -> int:
    return sum(1 << CAPS[c] for c in set(names))


def limit_to(keep: tuple[str, ...] | set[str]) -> None:
    """Reduce the effective and permitted sets to ``keep`` (what this process holds of it)
    and clear the inheritable set: from here on the process holds no more than a container
    process.  (The bounding set is ``drop_bounding_except``'s.)"""
    eff, prm, _inh = current_sets()
    want = mask(keep)
    data = (_CapData * 2)()
    for i in (0, 1):
        data[i].effective = ((eff & want) >> (32 * i)) & 0xFFFFFFFF
        data[i].permitted = ((prm & want) >> (32 * i)) & 0xFFFFFFFF
        data[i].inheritable = 0
    _capcall("capset", data)
