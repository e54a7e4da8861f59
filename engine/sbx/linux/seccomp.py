"""Seccomp through libseccomp (Debian's libseccomp2, reached with ctypes): compile a
resolved ``sbx.oci.seccomp.Policy`` into a classic BPF program once (``compile_filter``;
the runtime caches the bytes), and load such a program into this process with one
seccomp(2) call (``Filter.load``: no libseccomp needed then, so it works after pivot_root).

The program libseccomp exports checks the architecture first (native plus the profile's
sub-architectures; any other one is killed), then the syscall number and its arguments."""

from __future__ import annotations

import ctypes
import errno as errnos
import os
import struct
from typing import TYPE_CHECKING

from sbx.errors import KernelError, SbxError

if TYPE_CHECKING:  # (the model is needed only to compile, never on a start's path)
    from sbx.oci.seccomp import Policy

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_KILL_THREAD = 0x00000000
SCMP_ACT_TRAP = 0x00030000
SCMP_ACT_ERRNO = 0x00050000
SCMP_ACT_TRACE = 0x7FF00000
SCMP_ACT_LOG = 0x7FFC0000
SCMP_ACT_ALLOW = 0x7FFF0000
_ACTIONS = {"SCMP_ACT_KILL": SCMP_ACT_KILL_THREAD, "SCMP_ACT_KILL_THREAD": SCMP_ACT_KILL_THREAD,
            "SCMP_ACT_KILL_PROCESS": SCMP_ACT_KILL_PROCESS, "SCMP_ACT_TRAP": SCMP_ACT_TRAP,
            "SCMP_ACT_ERRNO": SCMP_ACT_ERRNO, "SCMP_ACT_TRACE": SCMP_ACT_TRACE,
            "SCMP_ACT_LOG": SCMP_ACT_LOG, "SCMP_ACT_ALLOW": SCMP_ACT_ALLOW}
_OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
        "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
_NR_SCMP_ERROR = -1
_FLTATR_CTL_NNP = 3
_FLTATR_CTL_OPTIMIZE = 8

SECCOMP_SET_MODE_FILTER = 1
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
_SECCOMP_NR = {"x86_64": 317, "aarch64": 277, "i686": 354, "i386": 354, "armv7l": 383,
               "ppc64le": 358, "s390x": 348, "riscv64": 277, "loongarch64": 277}


class SeccompError(SbxError):
    """libseccomp is missing or refused a profile."""


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_lib: ctypes.CDLL | None = None
_libc = ctypes.CDLL(None, use_errno=True)  # now: after pivot_root no library can be opened
_libc.syscall.restype = ctypes.c_long
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong,
                        ctypes.c_ulong]


def _libseccomp() -> ctypes.CDLL:
    global _lib
    if _lib is None:
        try:
            lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
        except OSError:
            raise SeccompError("seccomp: libseccomp.so.2 cannot be loaded",
                               hint="install libseccomp2 (apt-get install libseccomp2), or run "
                                    "with --security-opt seccomp=unconfined") from None
        lib.seccomp_init.restype = ctypes.c_void_p
        lib.seccomp_init.argtypes = [ctypes.c_uint32]
        lib.seccomp_release.argtypes = [ctypes.c_void_p]
        lib.seccomp_arch_resolve_name.restype = ctypes.c_uint32
        lib.seccomp_arch_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_arch_add.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
        lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
        lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
        lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                               ctypes.c_uint, ctypes.POINTER(_ArgCmp)]
        lib.seccomp_export_bpf.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.seccomp_version.restype = ctypes.POINTER(_Version)
        _lib = lib
    return _lib


def library_version() -> str:
    v = _libseccomp().seccomp_version().contents
    return f"{v.major}.{v.minor}.{v.micro}"


def _action(name: str, errno: int | None) -> int:
    base = _ACTIONS[name]
    if base in (SCMP_ACT_ERRNO, SCMP_ACT_TRACE):
        return base | ((errno or 0) & 0xFFFF)
    return base


class Filter:
    """A compiled classic-BPF program (8-byte instructions) and its seccomp(2) flags.
    (A plain class: every container start imports this module, a dataclass costs.)"""

    __slots__ = ("program", "flags")

    def __init__(self, program: bytes, flags: int = 0) -> None:
        self.program = program
        self.flags = flags

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Filter) and (self.program, self.flags) == (other.program, other.flags)

    def __hash__(self) -> int:
        return hash((self.program, self.flags))

    def to_bytes(self) -> bytes:
        return struct.pack("<I", self.flags) + self.program

    @classmethod
    def from_bytes(cls, data: bytes) -> Filter:
        if len(data) < 12 or (len(data) - 4) % 8:
            raise ValueError("not a seccomp filter")
        return cls(data[4:], struct.unpack("<I", data[:4])[0])

    def load(self) -> None:
        """Install the filter on this process (and what it execs).  Without no_new_privs
        this needs CAP_SYS_ADMIN (in the process's user namespace)."""
        buf = ctypes.create_string_buffer(self.program, len(self.program))
        prog = _SockFprog(len(self.program) // 8, ctypes.addressof(buf))
        if self.flags:
            nr = _SECCOMP_NR.get(os.uname().machine, 317)
            rc = _libc.syscall(nr, ctypes.c_uint(SECCOMP_SET_MODE_FILTER),
                               ctypes.c_uint(self.flags), ctypes.byref(prog))
        else:
            rc = _libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(prog), 0, 0)
        if rc < 0:
            raise KernelError("load the seccomp filter", ctypes.get_errno(),
                              hint="without no-new-privileges this needs CAP_SYS_ADMIN")


def compile_filter(policy: Policy) -> Filter:
    """libseccomp: seccomp_init, seccomp_arch_add, seccomp_rule_add_array per rule, then
    seccomp_export_bpf.  Syscall names libseccomp does not know are skipped (as runc:
    a profile names syscalls of newer kernels and other architectures)."""
    lib = _libseccomp()
    ctx = lib.seccomp_init(_action(policy.default_action, policy.default_errno))
    if not ctx:
        raise SeccompError(f"seccomp: invalid default action {policy.default_action}")
    try:
        lib.seccomp_attr_set(ctx, _FLTATR_CTL_NNP, 0)  # we load it ourselves, as runc
        for arch in policy.arches:
            token = lib.seccomp_arch_resolve_name(arch.removeprefix("SCMP_ARCH_").lower().encode())
            if not token:
                raise SeccompError(f"seccomp: unknown architecture {arch}",
                                   hint="libseccomp does not know it; drop it from the profile")
            rc = lib.seccomp_arch_add(ctx, token)
            if rc < 0 and -rc != errnos.EEXIST:
                raise SeccompError(f"seccomp: adding architecture {arch}: {os.strerror(-rc)}")
        if len(policy.rules) > 32:
            lib.seccomp_attr_set(ctx, _FLTATR_CTL_OPTIMIZE, 2)  # a binary tree (2.5+), else linear
        for rule in policy.rules:
            nr = lib.seccomp_syscall_resolve_name(rule.name.encode())
            if nr == _NR_SCMP_ERROR:
                continue
            arr = (_ArgCmp * max(1, len(rule.args)))()
            for i, a in enumerate(rule.args):
                arr[i] = _ArgCmp(a.index, _OPS[a.op], a.value & 0xFFFFFFFFFFFFFFFF,
                                 a.value_two & 0xFFFFFFFFFFFFFFFF)
            rc = lib.seccomp_rule_add_array(ctx, _action(rule.action, rule.errno), nr,
                                            len(rule.args), arr)
            if rc < 0:
                raise SeccompError(f"seccomp: adding the rule for {rule.name} ({rule.action}): "
                                   f"{os.strerror(-rc)}",
                                   hint="check the profile's rules for this syscall")
        fd = os.memfd_create("sbx-seccomp", os.MFD_CLOEXEC)
        try:
            rc = lib.seccomp_export_bpf(ctx, fd)
            if rc < 0:
                raise SeccompError(f"seccomp: exporting the filter: {os.strerror(-rc)}")
            size = os.lseek(fd, 0, os.SEEK_END)
            program = os.pread(fd, size, 0)
        finally:
            os.close(fd)
    finally:
        lib.seccomp_release(ctx)
    return Filter(program, policy.flags)


def mode() -> int:
    """This process's seccomp mode (``Seccomp:`` in /proc/self/status): 0, 1 or 2."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("Seccomp:"):
                return int(line.split()[1])
    return 0
