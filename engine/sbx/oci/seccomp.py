"""Seccomp profiles in Docker's JSON format, resolved for one container (pure data).

A profile (``seccomp_default.json`` next to this file is Docker's default one) is an
allowlist: ``defaultAction`` (Docker: ``SCMP_ACT_ERRNO`` with ``defaultErrnoRet`` 1, EPERM)
and groups of syscalls, each with an action, optional argument comparisons and conditions.
``Profile.resolve`` applies Docker's rules (moby ``profiles/seccomp``) for one container:

- ``archMap``: the entry of the host's architecture gives the filter's architectures, the
  native one plus its sub-architectures (x86_64: x86 and x32, so 32-bit and x32 binaries
  get the same rules); ``architectures`` (the OCI form) lists them directly; not both.
- ``includes``/``excludes``: ``caps`` (all of them in, resp. any of them in, the
  container's bounding set), ``arches`` (Docker's names of the host's architecture:
  ``amd64``, ``arm64``...), ``minKernel`` (``"4.8"``: the host's kernel major.minor).
- ``name`` (legacy) or ``names``; ``errnoRet`` for ERRNO/TRACE (EPERM when absent).

A ``Policy`` is the result: plain rules, one syscall each, ready for libseccomp
(``sbx.linux.seccomp`` compiles it).  As in runc, a rule whose action is the default one
is dropped (libseccomp refuses it), and a rule comparing the same argument twice becomes
one rule per comparison (libseccomp ANDs the comparisons of one rule and cannot AND two on
one argument, so they are ORed, the profiles' old meaning)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from sbx.errors import InvalidArgument

DEFAULT_PROFILE = Path(__file__).with_name("seccomp_default.json")  # (runtime/seccomp.py too)

ACTIONS = ("SCMP_ACT_KILL", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_TRAP",
           "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_ALLOW", "SCMP_ACT_LOG")
OPERATORS = ("SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
             "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ")
# filter flags seccomp(2) takes when the filter is loaded (TSYNC: one thread, nothing to do)
FLAGS = {"SECCOMP_FILTER_FLAG_TSYNC": 0, "SECCOMP_FILTER_FLAG_LOG": 2,
         "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4}
EPERM = 1

# uname's machine -> Docker's (Go's) name of the architecture, used by includes.arches
DOCKER_ARCH = {"x86_64": "amd64", "i386": "x86", "i686": "x86", "aarch64": "arm64",
               "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64le", "ppc64": "ppc64",
               "s390x": "s390x", "riscv64": "riscv64", "loongarch64": "loong64",
               "mips64": "mips64"}
# Docker's name -> the libseccomp token of the native architecture, to find it in archMap
SCMP_ARCH = {"amd64": "SCMP_ARCH_X86_64", "x86": "SCMP_ARCH_X86", "arm64": "SCMP_ARCH_AARCH64",
             "arm": "SCMP_ARCH_ARM", "ppc64le": "SCMP_ARCH_PPC64LE", "ppc64": "SCMP_ARCH_PPC64",
             "s390x": "SCMP_ARCH_S390X", "riscv64": "SCMP_ARCH_RISCV64",
             "loong64": "SCMP_ARCH_LOONGARCH64", "mips64": "SCMP_ARCH_MIPS64"}


@dataclass(frozen=True)
class ArgCmp:
    """Compare syscall argument ``index``: ``value`` is the operand (for MASKED_EQ the mask,
    and ``value_two`` the value the masked argument must equal)."""

    index: int
    value: int
    op: str
    value_two: int = 0


@dataclass(frozen=True)
class Condition:
    caps: tuple[str, ...] = ()               # "CAP_SYS_ADMIN"
    arches: tuple[str, ...] = ()             # Docker's names: "amd64", "x32", "arm64"...
    min_kernel: tuple[int, int] | None = None


@dataclass(frozen=True)
class SyscallGroup:
    names: tuple[str, ...]
    action: str
    errno: int | None = None
    args: tuple[ArgCmp, ...] = ()
    includes: Condition | None = None
    excludes: Condition | None = None

    def applies(self, caps: frozenset[str], arch: str, kernel: tuple[int, int]) -> bool:
        ex, inc = self.excludes, self.includes
        if ex is not None:
            if arch in ex.arches or any(c in caps for c in ex.caps):
                return False
            if ex.min_kernel is not None and kernel >= ex.min_kernel:
                return False
        if inc is not None:
            if inc.arches and arch not in inc.arches:
                return False
            if any(c not in caps for c in inc.caps):
                return False
            if inc.min_kernel is not None and kernel < inc.min_kernel:
                return False
        return True


@dataclass(frozen=True)
class Rule:
    """One syscall, its action (with errno for ERRNO/TRACE) and comparisons, all ANDed."""

    name: str
    action: str
    errno: int | None = None
    args: tuple[ArgCmp, ...] = ()


@dataclass(frozen=True)
class Policy:
    """A profile resolved for one container: what libseccomp compiles."""

    default_action: str
    default_errno: int | None
    arches: tuple[str, ...]        # libseccomp tokens beyond the native one ("SCMP_ARCH_X86")
    rules: tuple[Rule, ...]
    flags: int = 0                 # seccomp(2) filter flags at load time

    def digest(self) -> str:
        data = json.dumps([self.default_action, self.default_errno, self.arches, self.flags,
                           [[r.name, r.action, r.errno, [[a.index, a.value, a.op, a.value_two]
                                                          for a in r.args]]
                            for r in self.rules]], separators=(",", ":"))
        return hashlib.sha256(data.encode()).hexdigest()


@dataclass(frozen=True)
class Profile:
    default_action: str
    default_errno: int | None = None
    arch_map: tuple[tuple[str, tuple[str, ...]], ...] = ()
    architectures: tuple[str, ...] = ()
    flags: tuple[str, ...] = ()
    syscalls: tuple[SyscallGroup, ...] = ()

    @classmethod
    def default(cls) -> Profile:
        return _default_profile()

    @classmethod
    def parse(cls, text: str | bytes, source: str = "seccomp profile") -> Profile:
        """Docker's JSON format; every mistake is one ``InvalidArgument`` naming ``source``."""
        try:
            data = json.loads(text)
        except ValueError as e:
            raise InvalidArgument(f"{source}: decoding the seccomp profile failed: {e}",
                                  hint="give a JSON file in Docker's seccomp profile format") from None
        try:
            return cls._from_dict(data)
        except (KeyError, TypeError, ValueError) as e:
            raise InvalidArgument(f"{source}: invalid seccomp profile: {e}",
                                  hint="see Docker's default profile for the format") from None

    @classmethod
    def _from_dict(cls, data: Any) -> Profile:
        if not isinstance(data, dict):
            raise ValueError("the top level must be an object")
        default = str(data.get("defaultAction") or "")
        if default:
            _action(default)
        if data.get("architectures") and data.get("archMap"):
            raise ValueError("both 'architectures' and 'archMap' are given: use one of them")
        arch_map = tuple((str(a["architecture"]), tuple(a.get("subArchitectures") or ()))
                         for a in data.get("archMap") or ())
        flags = tuple(str(f) for f in data.get("flags") or ())
        for f in flags:
            if f not in FLAGS:
                raise ValueError(f"seccomp flag {f!r} is not supported")
        if data.get("listenerPath"):
            raise ValueError("listenerPath (SCMP_ACT_NOTIFY) is not supported")
        groups = []
        for n, call in enumerate(data.get("syscalls") or ()):
            if not isinstance(call, dict):
                raise ValueError(f"syscalls[{n}] must be an object")
            groups.append(_group(call, n))
        return cls(default, _errno(data.get("defaultErrnoRet")), arch_map,
                   tuple(str(a) for a in data.get("architectures") or ()), flags, tuple(groups))

    def resolve(self, *, caps: Iterable[str], machine: str, kernel: tuple[int, int]) -> Policy | None:
        """The rules for a container whose bounding set is ``caps`` (names, with or without
        ``CAP_``) on a host of ``machine`` (uname) running ``kernel`` (major, minor).  None:
        the profile confines nothing (no default action and no syscalls, as Docker)."""
        if not self.default_action and not self.syscalls:
            return None
        if not self.default_action:
            raise InvalidArgument("seccomp profile: defaultAction is missing",
                                  hint='set "defaultAction", e.g. "SCMP_ACT_ERRNO"')
        capset = frozenset("CAP_" + c.upper().removeprefix("CAP_") for c in caps)
        arch = DOCKER_ARCH.get(machine, machine)
        arches: tuple[str, ...] = self.architectures
        native = SCMP_ARCH.get(arch)
        for main, subs in self.arch_map:
            if main == native:
                arches = (main, *subs)
                break
        default_errno = self._errno_for(self.default_action, self.default_errno)
        rules: list[Rule] = []
        for group in self.syscalls:
            if not group.applies(capset, arch, kernel):
                continue
            errno = self._errno_for(group.action, group.errno)
            if (group.action, errno) == (self.default_action, default_errno):
                continue  # redundant, and libseccomp refuses it
            for name in group.names:
                for args in _split_same_index(group.args):
                    rules.append(Rule(name, group.action, errno, args))
        flags = 0
        for f in self.flags:
            flags |= FLAGS[f]
        return Policy(self.default_action, default_errno, arches, tuple(rules), flags)

    @staticmethod
    def _errno_for(action: str, errno: int | None) -> int | None:
        if action in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
            return EPERM if errno is None else errno
        return None


def _split_same_index(args: tuple[ArgCmp, ...]) -> list[tuple[ArgCmp, ...]]:
    indexes = [a.index for a in args]
    if len(set(indexes)) == len(indexes):
        return [args]
    return [(a,) for a in args]


def _action(name: str) -> str:
    if name == "SCMP_ACT_NOTIFY":
        raise ValueError("SCMP_ACT_NOTIFY is not supported (no seccomp agent)")
    if name not in ACTIONS:
        raise ValueError(f"unknown action {name!r}")
    return name


def _errno(value: Any) -> int | None:
    if value is None:
        return None
    n = int(value)
    if not 0 <= n <= 0xFFFF:
        raise ValueError(f"errno {value!r} out of range")
    return n


def _kernel(value: Any) -> tuple[int, int] | None:
    if not value:
        return None
    parts = str(value).split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or parts == ["0", "0"]:
        raise ValueError(f'invalid kernel version {value!r}, expected "<kernel>.<major>"')
    return int(parts[0]), int(parts[1])


def _condition(raw: Any) -> Condition | None:
    if not raw:
        return None
    return Condition(tuple(str(c) for c in raw.get("caps") or ()),
                     tuple(str(a) for a in raw.get("arches") or ()), _kernel(raw.get("minKernel")))


def _group(call: dict[str, Any], n: int) -> SyscallGroup:
    if call.get("name") and call.get("names"):
        raise ValueError(f"syscalls[{n}]: both 'name' and 'names' are given: use one of them")
    names = tuple(str(x) for x in (call.get("names") or ([call["name"]] if call.get("name") else [])))
    if not names or any(not x for x in names):
        raise ValueError(f"syscalls[{n}]: no syscall names")
    try:
        action = _action(str(call.get("action") or ""))
    except ValueError as e:
        raise ValueError(f"syscalls[{n}] ({names[0]}): {e}") from None
    args = []
    for a in call.get("args") or ():
        op = str(a.get("op") or "")
        if op not in OPERATORS:
            raise ValueError(f"syscalls[{n}] ({names[0]}): unknown operator {op!r}")
        index = int(a.get("index", 0))
        if not 0 <= index < 6:
            raise ValueError(f"syscalls[{n}] ({names[0]}): argument index {index} out of range 0-5")
        args.append(ArgCmp(index, int(a.get("value", 0)), op, int(a.get("valueTwo", 0))))
    return SyscallGroup(names, action, _errno(call.get("errnoRet")), tuple(args),
                        _condition(call.get("includes")), _condition(call.get("excludes")))


@lru_cache(maxsize=1)
def _default_profile() -> Profile:
    return Profile.parse(DEFAULT_PROFILE.read_bytes(), str(DEFAULT_PROFILE))


def kernel_version(release: str) -> tuple[int, int]:
    """(major, minor) of a uname release such as ``6.18.44-fc`` or ``3.12-1-amd64``."""
    head = release.split("-", 1)[0].split(".")
    try:
        return int(head[0]), int(head[1]) if len(head) > 1 else 0
    except ValueError:
        return 0, 0
