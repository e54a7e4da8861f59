"""``--security-opt``, as Docker reads it: ``seccomp=unconfined|builtin|PROFILE.json``,
``no-new-privileges[=true|false]`` (``:`` accepted for ``=``, Docker's old form),
``apparmor=PROFILE`` and ``label=...`` (recorded; sbx applies no LSM profile, and says
so on a host that has no such LSM).

As the docker CLI, a profile file is read when the container is created and its JSON,
compacted, replaces the path (``seccomp={...}`` in ``HostConfig.SecurityOpt``): the
container keeps its profile even if the file changes or goes away."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sbx.errors import InvalidArgument

UNCONFINED = "unconfined"  # (also in runtime/seccomp.py, which must not import this module)
_TRUE = ("1", "t", "true", "TRUE", "True")
_FALSE = ("0", "f", "false", "FALSE", "False")


@dataclass(frozen=True)
class SecurityOptions:
    seccomp: str = ""                 # "": Docker's default profile; "unconfined"; or JSON
    no_new_privs: bool = False
    apparmor: str = ""
    labels: tuple[str, ...] = ()
    shown: tuple[str, ...] = ()       # HostConfig.SecurityOpt (a profile file inlined)


def _split(opt: str) -> tuple[str, str]:
    for sep in ("=", ":"):
        if sep in opt:
            k, _, v = opt.partition(sep)
            return k, v
    raise InvalidArgument(f"invalid --security-opt: {opt!r}",
                          hint="use seccomp=PROFILE|unconfined, no-new-privileges[=true], "
                               "apparmor=PROFILE or label=...")


def _bool(opt: str, value: str) -> bool:
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidArgument(f"invalid --security-opt: {opt!r}", hint="no-new-privileges takes true or false")


def read_profile(path: str) -> str:
    """A profile file's JSON, compacted and validated (one error line naming the file)."""
    from sbx.oci.seccomp import Profile

    try:
        raw = Path(path).read_bytes()
    except OSError as e:
        raise InvalidArgument(f"opening seccomp profile ({path}) failed: {e.strerror}",
                              hint="give the path of a JSON profile, or seccomp=unconfined") from None
    Profile.parse(raw, f"seccomp profile {path}")
    return json.dumps(json.loads(raw), separators=(",", ":"))


def _inline(text: str) -> str:
    from sbx.oci.seccomp import Profile

    Profile.parse(text, "seccomp profile (inline JSON)")
    return json.dumps(json.loads(text), separators=(",", ":"))


def parse(items: Iterable[str]) -> SecurityOptions:
    seccomp, nnp, apparmor = "", False, ""
    labels: list[str] = []
    shown: list[str] = []
    for opt in items:
        if opt == "no-new-privileges":
            nnp = True
            shown.append(opt)
            continue
        if opt == "disable":
            labels.append("disable")
            shown.append(opt)
            continue
        key, value = _split(opt)
        if key == "no-new-privileges":
            nnp = _bool(opt, value)
        elif key == "seccomp":
            if value == UNCONFINED:
                seccomp = UNCONFINED
            elif value in ("builtin", ""):
                seccomp = ""
            else:  # a file, or (a stored record, the API) the profile's JSON itself
                seccomp = _inline(value) if value.lstrip().startswith("{") else read_profile(value)
                shown.append(f"seccomp={seccomp}")
                continue
        elif key == "apparmor":
            apparmor = value
        elif key == "label":
            labels.append(value)
        else:
            raise InvalidArgument(f"invalid --security-opt: {opt!r}",
                                  hint="known: seccomp=, no-new-privileges, apparmor=, label=")
        shown.append(opt)
    return SecurityOptions(seccomp, nnp, apparmor, tuple(labels), tuple(shown))


def host_lsms(root: str = "/") -> frozenset[str]:
    """The host's active LSMs: /sys/kernel/security/lsm, or (securityfs not mounted) what
    /sys/module and /sys/fs say of AppArmor and SELinux."""
    base = Path(root)
    try:
        return frozenset(x for x in (base / "sys/kernel/security/lsm").read_text().strip().split(",") if x)
    except OSError:
        pass
    found = set()
    try:
        if (base / "sys/module/apparmor/parameters/enabled").read_text().strip() == "Y":
            found.add("apparmor")
    except OSError:
        pass
    if (base / "sys/fs/selinux/enforce").exists():
        found.add("selinux")
    return frozenset(found)


def notes(opts: SecurityOptions, lsms: frozenset[str]) -> list[str]:
    """One line per LSM option: what becomes of it on this host."""
    out = []
    if opts.apparmor:
        where = "this host has no AppArmor" if "apparmor" not in lsms else \
            "sbx loads no AppArmor profiles"
        out.append(f"--security-opt apparmor={opts.apparmor}: {where}; recorded, not applied")
    if opts.labels:
        where = "this host has no SELinux" if "selinux" not in lsms else \
            "sbx sets no SELinux labels"
        out.append(f"--security-opt label={','.join(opts.labels)}: {where}; recorded, not applied")
    return out
