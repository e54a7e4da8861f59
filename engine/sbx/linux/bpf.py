"""eBPF for cgroup device programs: the few instructions a device filter needs, and the
bpf(2) commands that load, attach, list and detach one.

References: the kernel's Documentation/bpf/standardization/instruction-set.rst (the
encoding), include/uapi/linux/bpf.h (``union bpf_attr``, ``struct bpf_insn``,
``struct bpf_cgroup_dev_ctx``, the command, program and attach type numbers) and
kernel/bpf/cgroup.c (``BPF_PROG_TYPE_CGROUP_DEVICE``: what runc and crun attach to a
container's cgroup on cgroup v2; every program on the cgroup and its ancestors must
return 1 for an access to go ahead).

An instruction is 8 bytes: ``u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm``.
``code`` is an operation class (load from memory, 32-bit ALU, 64-bit jump) or'ed with
the operation and the source kind (``K``: the immediate, ``X``: a register).  Only the
instructions :mod:`sbx.cgroups.devices` emits exist here; :func:`decode` reads them back
(the unit tests run a small interpreter over it).

Loading first goes without a verifier log (the fast path); a rejected program is loaded
once more with a log buffer so that the error carries the verifier's own words.
"""

from __future__ import annotations

import ctypes
import errno as _errno
import os
import resource
import struct
import sys
from dataclasses import dataclass

from sbx.errors import KernelError

# -- instruction encoding --------------------------------------------------------------
# classes
BPF_LDX, BPF_ALU, BPF_JMP = 0x01, 0x04, 0x05
# sizes and modes (loads)
BPF_W, BPF_MEM = 0x00, 0x60
# ALU operations
BPF_AND, BPF_RSH, BPF_MOV = 0x50, 0x70, 0xB0
# jumps
BPF_JNE, BPF_EXIT = 0x50, 0x90
# source kinds
BPF_K, BPF_X = 0x00, 0x08

R0, R1, R2, R3, R4, R5 = range(6)

_INSN = struct.Struct("<BBhi" if sys.byteorder == "little" else ">BBhi")


@dataclass(frozen=True)
class Insn:
    """One eBPF instruction (see the module docstring for the fields)."""

    code: int
    dst: int = 0
    src: int = 0
    off: int = 0
    imm: int = 0

    def encode(self) -> bytes:
        # The register nibbles follow the bit-field order of the machine's C compiler.
        regs = (self.src << 4 | self.dst) if sys.byteorder == "little" else (self.dst << 4 | self.src)
        return _INSN.pack(self.code, regs, self.off, self.imm)


def ldx_w(dst: int, src: int, off: int) -> Insn:
    """``dst = *(u32 *)(src + off)`` (zero-extended to 64 bits)."""
    return Insn(BPF_LDX | BPF_MEM | BPF_W, dst, src, off)


def and32_imm(dst: int, imm: int) -> Insn:
    """``w_dst &= imm``."""
    return Insn(BPF_ALU | BPF_AND | BPF_K, dst, imm=imm)


def rsh32_imm(dst: int, imm: int) -> Insn:
    """``w_dst >>= imm`` (logical)."""
    return Insn(BPF_ALU | BPF_RSH | BPF_K, dst, imm=imm)


def mov32_imm(dst: int, imm: int) -> Insn:
    """``w_dst = imm``."""
    return Insn(BPF_ALU | BPF_MOV | BPF_K, dst, imm=imm)


def mov32_reg(dst: int, src: int) -> Insn:
    """``w_dst = w_src``."""
    return Insn(BPF_ALU | BPF_MOV | BPF_X, dst, src)


def jne_imm(dst: int, imm: int, off: int) -> Insn:
    """``if dst != imm: skip off instructions`` (64-bit compare, imm sign-extended)."""
    return Insn(BPF_JMP | BPF_JNE | BPF_K, dst, off=off, imm=imm)


def jne_reg(dst: int, src: int, off: int) -> Insn:
    """``if dst != src: skip off instructions``."""
    return Insn(BPF_JMP | BPF_JNE | BPF_X, dst, src, off=off)


def exit_insn() -> Insn:
    """Return ``r0``."""
    return Insn(BPF_JMP | BPF_EXIT)


def assemble(insns: list[Insn]) -> bytes:
    return b"".join(i.encode() for i in insns)


def decode(code: bytes) -> list[Insn]:
    """The instructions of an assembled program (the inverse of :func:`assemble`)."""
    out = []
    for offset in range(0, len(code), _INSN.size):
        op, regs, off, imm = _INSN.unpack_from(code, offset)
        lo, hi = regs & 0xF, regs >> 4
        dst, src = (lo, hi) if sys.byteorder == "little" else (hi, lo)
        out.append(Insn(op, dst, src, off, imm))
    return out


# -- bpf(2) ----------------------------------------------------------------------------
BPF_PROG_LOAD, BPF_PROG_ATTACH, BPF_PROG_DETACH = 5, 8, 9
BPF_PROG_GET_FD_BY_ID, BPF_PROG_QUERY = 13, 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6          # attach type
BPF_F_ALLOW_MULTI = 1 << 1
# struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }
BPF_DEVCG_ACC_MKNOD, BPF_DEVCG_ACC_READ, BPF_DEVCG_ACC_WRITE = 1, 2, 4
BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR = 1, 2

_NR_BPF = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "ppc64le": 361,
           "s390x": 351}.get(os.uname().machine, 321)
_ATTR_SIZE = 128               # covers every field used below; the rest stays zero
_LOG_SIZE = 1 << 20

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


class BpfLoadError(KernelError):
    """BPF_PROG_LOAD refused the program; ``log`` holds the verifier's output (if any)."""

    def __init__(self, errno: int, log: str) -> None:
        tail = [line for line in log.splitlines()
                if line.strip() and not line.startswith(("processed ", "verification time"))][-2:]
        hint = ("the verifier said: " + " / ".join(tail)) if tail else (
            "loading cgroup device programs needs CAP_SYS_ADMIN (or CAP_BPF) in the "
            "initial user namespace" if errno == _errno.EPERM else None)
        super().__init__("bpf(BPF_PROG_LOAD) of the cgroup device program", errno, hint=hint)
        self.log = log


def _bpf(cmd: int, attr: ctypes.Array[ctypes.c_char], step: str, path: str = "") -> int:
    rc = _libc.syscall(ctypes.c_long(_NR_BPF), ctypes.c_int(cmd), attr,
                       ctypes.c_uint(_ATTR_SIZE))
    if rc < 0:
        raise KernelError(step, ctypes.get_errno(), path)
    return int(rc)


def _attr(fmt: str, *values: int | bytes) -> ctypes.Array[ctypes.c_char]:
    buf = ctypes.create_string_buffer(_ATTR_SIZE)
    struct.pack_into(fmt, buf, 0, *values)
    return buf


def _addr(obj: ctypes.Array[ctypes.c_char]) -> int:
    return ctypes.addressof(obj)


def prog_load(code: bytes, *, prog_type: int = BPF_PROG_TYPE_CGROUP_DEVICE,
              license: str = "MIT", name: str = "") -> int:
    """Load an assembled program; returns its fd (close-on-exec, as every bpf fd).

    Raises :class:`BpfLoadError` with the verifier's log when the program is refused.
    On kernels before 5.11, where program memory counts against RLIMIT_MEMLOCK, an EPERM
    raises that limit (of this process only) and tries once more, as runc does.
    """
    insns = ctypes.create_string_buffer(code, len(code))
    lic = ctypes.create_string_buffer(license.encode())
    prog_name = name.encode()[:15].ljust(16, b"\0")

    def load(log_level: int, log: ctypes.Array[ctypes.c_char] | None) -> int:
        # u32 prog_type, insn_cnt; u64 insns, license; u32 log_level, log_size;
        # u64 log_buf; u32 kern_version, prog_flags; char prog_name[16]
        attr = _attr("=IIQQIIQII16s", prog_type, len(code) // 8, _addr(insns), _addr(lic),
                     log_level, len(log) if log is not None else 0,
                     _addr(log) if log is not None else 0, 0, 0, prog_name)
        rc = _libc.syscall(ctypes.c_long(_NR_BPF), ctypes.c_int(BPF_PROG_LOAD), attr,
                           ctypes.c_uint(_ATTR_SIZE))
        return int(rc) if rc >= 0 else -ctypes.get_errno()

    fd = load(0, None)
    if fd == -_errno.EPERM and _raise_memlock():
        fd = load(0, None)
    if fd >= 0:
        return fd
    err = -fd
    if err in (_errno.EACCES, _errno.EINVAL):  # the verifier refused it: ask why
        log = ctypes.create_string_buffer(_LOG_SIZE)
        again = load(1, log)
        if again >= 0:  # accepted the second time (should not happen): use it
            return again
        raise BpfLoadError(err, log.value.decode(errors="replace"))
    raise BpfLoadError(err, "")


def _raise_memlock() -> bool:
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_MEMLOCK)
        if soft == resource.RLIM_INFINITY:
            return False
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        return True
    except (OSError, ValueError):
        return False


def prog_attach(target_fd: int, prog_fd: int, *, attach_type: int = BPF_CGROUP_DEVICE,
                flags: int = BPF_F_ALLOW_MULTI, path: str = "") -> None:
    """Attach program ``prog_fd`` to the cgroup open at ``target_fd``; the attachment
    holds the program, so its fd may be closed afterwards."""
    # u32 target_fd, attach_bpf_fd, attach_type, attach_flags
    _bpf(BPF_PROG_ATTACH, _attr("=IIII", target_fd, prog_fd, attach_type, flags),
         "bpf(BPF_PROG_ATTACH, BPF_CGROUP_DEVICE)", path)


def prog_detach(target_fd: int, prog_fd: int, *, attach_type: int = BPF_CGROUP_DEVICE,
                path: str = "") -> None:
    _bpf(BPF_PROG_DETACH, _attr("=III", target_fd, prog_fd, attach_type),
         "bpf(BPF_PROG_DETACH, BPF_CGROUP_DEVICE)", path)


def prog_query(target_fd: int, *, attach_type: int = BPF_CGROUP_DEVICE,
               path: str = "") -> list[int]:
    """The ids of the programs attached to the cgroup itself (not its ancestors)."""
    count = 64
    for _ in range(4):
        ids = (ctypes.c_uint32 * count)()
        # u32 target_fd, attach_type, query_flags, attach_flags; u64 prog_ids; u32 prog_cnt
        attr = _attr("=IIIIQI", target_fd, attach_type, 0, 0, ctypes.addressof(ids), count)
        try:
            _bpf(BPF_PROG_QUERY, attr, "bpf(BPF_PROG_QUERY, BPF_CGROUP_DEVICE)", path)
        except KernelError as exc:
            if exc.errno != _errno.ENOSPC:
                raise
            count = struct.unpack_from("=I", attr, 24)[0]
            continue
        got = struct.unpack_from("=I", attr, 24)[0]
        return list(ids[:got])
    raise KernelError("bpf(BPF_PROG_QUERY, BPF_CGROUP_DEVICE)", _errno.ENOSPC, path)


def prog_fd_by_id(prog_id: int) -> int:
    return _bpf(BPF_PROG_GET_FD_BY_ID, _attr("=I", prog_id), f"bpf(BPF_PROG_GET_FD_BY_ID {prog_id})")


def replace_device_program(cgroup_dir: str, code: bytes, *, name: str = "sbx_devices") -> None:
    """Load ``code`` as a cgroup device program and make it the only one attached to
    ``cgroup_dir`` (attached with BPF_F_ALLOW_MULTI, as runc and crun do; programs found
    there before are detached afterwards, so there is no moment without a policy)."""
    dfd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        old = prog_query(dfd, path=cgroup_dir)
        prog = prog_load(code, name=name)
        try:
            prog_attach(dfd, prog, path=cgroup_dir)
        finally:
            os.close(prog)
        for prog_id in old:
            try:
                fd = prog_fd_by_id(prog_id)
            except KernelError as exc:
                if exc.errno == _errno.ENOENT:
                    continue
                raise
            try:
                prog_detach(dfd, fd, path=cgroup_dir)
            finally:
                os.close(fd)
    finally:
        os.close(dfd)
