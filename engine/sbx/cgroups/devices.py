"""Which device nodes a container may use: one allowlist, written to ``devices.allow`` on
cgroup v1 and compiled into a ``BPF_PROG_TYPE_CGROUP_DEVICE`` program on cgroup v2.

The list is Docker's (moby ``oci/defaults.go`` plus the ``AllowedDevices`` runc appends
in ``libcontainer/specconv``): everything is denied, then mknod of any node (so images
can carry device files), and read/write/mknod of null, zero, full, random, urandom,
tty, console, ptmx, the pts slaves and /dev/net/tun.  ``--device`` adds its own nodes
with the permissions asked for; ``--privileged`` has no policy at all (``None``).

A request is allowed when one rule matches its type (``a`` matches both), major and
minor (``None`` is the ``*`` wildcard) and holds every access bit it asks for (opening
``O_RDWR`` asks read and write at once), as the v1 devices controller decides.

The v2 program has the shape runc's ``devicefilter.go`` and crun's ``ebpf.c`` emit::

    r2 = ctx->access_type & 0xffff     the type: BPF_DEVCG_DEV_BLOCK 1, _CHAR 2
    r3 = ctx->access_type >> 16        the access: MKNOD 1, READ 2, WRITE 4
    r4 = ctx->major; r5 = ctx->minor
    for each rule:                     a block; any mismatch jumps to the next block
        if r2 != TYPE goto next                (not for "a")
        w1 = w3; w1 &= ACCESS; if r1 != r3 goto next   (not for "rwm")
        if r4 != MAJOR goto next               (not for "*")
        if r5 != MINOR goto next               (not for "*")
        return 1
    return 0
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sbx.errors import InvalidArgument
from sbx.linux import bpf

TYPES = ("a", "b", "c")
#: The kernel's dev_t: 12 bits of major, 20 of minor (include/linux/kdev_t.h).
MAX_MAJOR, MAX_MINOR = (1 << 12) - 1, (1 << 20) - 1

_ACCESS_BITS = {"m": bpf.BPF_DEVCG_ACC_MKNOD, "r": bpf.BPF_DEVCG_ACC_READ,
                "w": bpf.BPF_DEVCG_ACC_WRITE}
_TYPE_CODES = {"b": bpf.BPF_DEVCG_DEV_BLOCK, "c": bpf.BPF_DEVCG_DEV_CHAR}


def check_access(access: str) -> str:
    """``access`` in the canonical order ``rwm`` or raise; each letter at most once."""
    if not access or any(c not in "rwm" for c in access) or len(set(access)) != len(access):
        raise InvalidArgument(f"bad device permissions {access!r}",
                              hint="use a combination of r (read), w (write) and m (mknod), "
                                   "e.g. rwm or r")
    return "".join(c for c in "rwm" if c in access)


@dataclass(frozen=True)
class DeviceRule:
    """One allow rule: ``type major:minor access`` as the v1 ``devices.allow`` takes it."""

    type: str
    """``c`` (character), ``b`` (block) or ``a`` (all of both)."""
    major: int | None = None
    """``None`` for any (``*``)."""
    minor: int | None = None
    access: str = "rwm"

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise InvalidArgument(f"bad device type {self.type!r}", hint="use c, b or a")
        for what, value, top in (("major", self.major, MAX_MAJOR), ("minor", self.minor, MAX_MINOR)):
            if value is not None and not 0 <= value <= top:
                raise InvalidArgument(f"device {what} {value} out of range", hint=f"use 0..{top} or *")
        object.__setattr__(self, "access", check_access(self.access))

    @classmethod
    def parse(cls, text: str) -> DeviceRule:
        """``c 1:3 rwm``, ``b *:* m``, ``a`` (devices.allow syntax)."""
        parts = text.split()
        if parts == ["a"]:
            return cls("a")
        try:
            kind, numbers, access = parts
            major, minor = numbers.split(":")
            return cls(kind, None if major == "*" else int(major),
                       None if minor == "*" else int(minor), access)
        except ValueError:
            raise InvalidArgument(f"bad device rule {text!r}",
                                  hint="use 'TYPE MAJOR:MINOR ACCESS', e.g. 'c 1:3 rwm'") from None

    def __str__(self) -> str:
        if self.type == "a" and self.major is None and self.minor is None and self.access == "rwm":
            return "a"
        major = "*" if self.major is None else str(self.major)
        minor = "*" if self.minor is None else str(self.minor)
        return f"{self.type} {major}:{minor} {self.access}"

    def matches(self, kind: str, major: int, minor: int, access: str) -> bool:
        """Whether this rule allows ``access`` on the node ``kind major:minor``."""
        return ((self.type == "a" or self.type == kind)
                and self.major in (None, major) and self.minor in (None, minor)
                and set(access) <= set(self.access))


#: Docker's default allowlist (everything else is denied).
DEFAULT_RULES: tuple[DeviceRule, ...] = (
    DeviceRule("c", None, None, "m"),   # mknod of any node: images carry device files
    DeviceRule("b", None, None, "m"),
    DeviceRule("c", 1, 3),              # /dev/null
    DeviceRule("c", 1, 5),              # /dev/zero
    DeviceRule("c", 1, 7),              # /dev/full
    DeviceRule("c", 1, 8),              # /dev/random
    DeviceRule("c", 1, 9),              # /dev/urandom
    DeviceRule("c", 5, 0),              # /dev/tty
    DeviceRule("c", 5, 1),              # /dev/console
    DeviceRule("c", 5, 2),              # /dev/ptmx
    DeviceRule("c", 136, None),         # /dev/pts/*
    DeviceRule("c", 10, 200),           # /dev/net/tun
)


def allowed(rules: Iterable[DeviceRule] | None, kind: str, major: int, minor: int,
            access: str) -> bool:
    """The policy's answer for one request (``None``: no policy, everything allowed)."""
    if rules is None:
        return True
    return any(r.matches(kind, major, minor, access) for r in rules)


def program(rules: Iterable[DeviceRule]) -> list[bpf.Insn]:
    """The cgroup v2 device program for an allowlist (see the module docstring)."""
    insns = [
        bpf.ldx_w(bpf.R2, bpf.R1, 0), bpf.and32_imm(bpf.R2, 0xFFFF),
        bpf.ldx_w(bpf.R3, bpf.R1, 0), bpf.rsh32_imm(bpf.R3, 16),
        bpf.ldx_w(bpf.R4, bpf.R1, 4),
        bpf.ldx_w(bpf.R5, bpf.R1, 8),
    ]
    for rule in rules:
        insns.extend(_block(rule))
    insns += [bpf.mov32_imm(bpf.R0, 0), bpf.exit_insn()]
    return insns


def _block(rule: DeviceRule) -> list[bpf.Insn]:
    """One rule's block; each check jumps past the block's end (to the next rule)."""
    checks: list[tuple[str, int, int]] = []   # (kind, register, value): "imm" or "access"
    if rule.type != "a":
        checks.append(("imm", bpf.R2, _TYPE_CODES[rule.type]))
    if rule.access != "rwm":
        checks.append(("access", bpf.R3, sum(_ACCESS_BITS[c] for c in rule.access)))
    if rule.major is not None:
        checks.append(("imm", bpf.R4, rule.major))
    if rule.minor is not None:
        checks.append(("imm", bpf.R5, rule.minor))
    size = sum(3 if kind == "access" else 1 for kind, _, _ in checks) + 2
    out: list[bpf.Insn] = []
    for kind, reg, value in checks:
        if kind == "access":  # the bits asked for must all be in the rule's
            out += [bpf.mov32_reg(bpf.R1, bpf.R3), bpf.and32_imm(bpf.R1, value)]
            out.append(bpf.jne_reg(bpf.R1, bpf.R3, size - len(out) - 1))
        else:
            out.append(bpf.jne_imm(reg, value, size - len(out) - 1))
    out += [bpf.mov32_imm(bpf.R0, 1), bpf.exit_insn()]
    assert len(out) == size
    return out


def assembled(rules: Iterable[DeviceRule]) -> bytes:
    """:func:`program` as the bytes ``BPF_PROG_LOAD`` takes."""
    return bpf.assemble(program(rules))
