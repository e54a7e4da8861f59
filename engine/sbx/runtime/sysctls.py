"""``--sysctl KEY=VALUE``: which kernel parameters a container may set, and where.

Only parameters that belong to a namespace of the container's own are allowed (runc's
rule, libcontainer/configs/validate): the IPC ones (``kernel.msgmax``, ``msgmnb``,
``msgmni``, ``sem``, ``shmall``, ``shmmax``, ``shmmni``, ``shm_rmid_forced``,
``fs.mqueue.*``) with the container's own IPC namespace; ``net.*`` with a network
namespace that is not the host's (``--network host`` refuses them); ``kernel.domainname``
(its UTS namespace; ``kernel.hostname`` is ``--hostname``'s, as runc says).  Anything else
would change the host for everyone and is refused with the reason.  The values are
written by the container's init into its /proc/sys before that is made read-only
(rootfs.py)."""

from __future__ import annotations

import re

from sbx.errors import InvalidArgument

IPC_KEYS = frozenset({
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced",
})
_PART = re.compile(r"^[A-Za-z0-9_\-.:@+]+$")


def dotted(key: str) -> str:
    """The key in its dotted form: ``net/ipv4/ip_forward`` -> ``net.ipv4.ip_forward``
    (a key given with slashes may hold dots inside a component, e.g. ``eth0.100``: the
    two separators are swapped, as runc does)."""
    if "/" in key:
        return key.translate(str.maketrans("./", "/."))
    return key


def proc_path(key: str) -> str:
    """Where the (validated, dotted) key lives below /proc: ``sys/net/ipv4/ip_forward``."""
    return "sys/" + key.translate(str.maketrans("./", "/."))


def parse(items: list[str] | tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    """``KEY=VALUE`` flags as (dotted key, value) pairs, later ones winning."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InvalidArgument(f"invalid --sysctl {item!r}: expected KEY=VALUE",
                                  hint="e.g. --sysctl net.ipv4.ip_forward=1")
        out[dotted(key)] = value
    return tuple(out.items())


def check(sysctls: tuple[tuple[str, str], ...], *, network: str = "private",
          ipc: str = "private", uts: str = "private") -> None:
    """Refuse (InvalidArgument, one line with the reason) any key the container's own
    namespaces do not hold."""
    for key, _value in sysctls:
        comps = proc_path(key).split("/")[1:]   # what the kernel will walk
        if len(comps) < 2 or not all(c not in (".", "..") and _PART.match(c) for c in comps):
            raise InvalidArgument(f"invalid --sysctl key {key!r}",
                                  hint="name a kernel parameter such as net.ipv4.ip_forward")
        if key in IPC_KEYS or key.startswith("fs.mqueue."):
            if ipc == "host":
                raise InvalidArgument(f"sysctl {key!r} is not allowed in the host's IPC namespace",
                                      hint="drop --ipc host, or the --sysctl")
            continue
        if key.startswith("net."):
            if network == "host":
                raise InvalidArgument(f"sysctl {key!r} is not allowed in the host's network namespace",
                                      hint="drop --network host, or the --sysctl")
            continue
        if key == "kernel.domainname" and uts != "host":
            continue
        if key == "kernel.hostname" and uts != "host":
            raise InvalidArgument(f"sysctl {key!r} is not allowed: it conflicts with --hostname",
                                  hint="use --hostname")
        raise InvalidArgument(
            f"sysctl {key!r} is not in a separate kernel namespace: setting it would change "
            "the host", hint="only IPC keys (kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*), "
                             "net.* and kernel.domainname can be set per container")
