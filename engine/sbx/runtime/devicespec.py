"""``--device HOST[:CONTAINER[:PERMS]]``: the flag's syntax and the host nodes it names.

The syntax and defaults are the docker CLI's (``opts.ValidateDevice`` and
``parseLinuxDevice``): at most three ``:``-separated parts; a second part that is a valid
permission string (letters of ``rwm``, each once) is the permissions, otherwise the
container path; the container path defaults to the host path and the permissions to
``rwm``; the paths must be absolute.

:func:`resolve` then looks the host path up as moby's ``oci.DevicesFromPath`` does: a
symlink is followed (``/dev/disk/by-id/...``), a character or block device is one node, a
directory gives every device node below it (``--device /dev/snd``) at the same relative
path under the container path, anything else is "not a device node".  Each node is made
in the container (``rootfs.py``: mknod with the host node's type, numbers, mode and owner;
bound from the host in rootless mode) and allowed in the device policy with the
permissions asked for (``sbx.cgroups.devices``, v1 and v2).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from sbx.errors import InvalidArgument
from sbx.runtime.spec import Device

__all__ = ["DeviceNode", "parse_device", "resolve", "resolve_all", "valid_permissions"]


def valid_permissions(mode: str) -> bool:
    """Docker's ``validDeviceMode``: a non-empty combination of r, w and m, each once."""
    return bool(mode) and all(c in "rwm" for c in mode) and len(set(mode)) == len(mode)


def parse_device(text: str) -> Device:
    """One ``--device`` value; raises InvalidArgument with docker's wording."""
    if text.count(":") > 2:
        raise InvalidArgument(f"bad format for path: {text}")
    parts = text.split(":")
    if not parts[0]:
        raise InvalidArgument(f"bad format for path: {text}")
    host, container, perms = parts[0], parts[0], "rwm"
    if len(parts) == 2:
        if valid_permissions(parts[1]):
            perms = parts[1]
        else:
            container = parts[1]
    elif len(parts) == 3:
        container, perms = parts[1], parts[2]
        if not valid_permissions(perms):
            raise InvalidArgument(f"bad mode specified: {perms}")
    for path in (container, host):
        if not os.path.isabs(path):
            raise InvalidArgument(f"{path} is not an absolute path")
    if os.path.normpath(container) == "/":
        raise InvalidArgument(f"bad format for path: {text}", hint="a device cannot replace /")
    return Device(os.path.normpath(host), os.path.normpath(container), perms)


@dataclass(frozen=True)
class DeviceNode:
    """One device node to make in the container, as found on the host."""

    path: str            # in the container
    host_path: str       # the node itself (symlinks resolved): bound from here in rootless mode
    type: str            # "c" or "b"
    major: int
    minor: int
    file_mode: int       # permission bits of the host node
    uid: int
    gid: int
    permissions: str     # what the policy allows on it: letters of rwm

    def rule(self):  # type: ignore[no-untyped-def]
        """The allow rule of this node in the device policy."""
        from sbx.cgroups.devices import DeviceRule

        return DeviceRule(self.type, self.major, self.minor, self.permissions)


def _gather_error(host: str, reason: str) -> InvalidArgument:
    return InvalidArgument(
        f"error gathering device information while adding custom device {host!r}: {reason}",
        hint="--device takes a character or block device node (or a directory of them) on "
             "the host, e.g. --device /dev/fuse")


def _node(path: str, st: os.stat_result, container_path: str, perms: str) -> DeviceNode | None:
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        return None
    return DeviceNode(container_path, path, kind, os.major(st.st_rdev), os.minor(st.st_rdev),
                      stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, perms)


def resolve(dev: Device) -> tuple[DeviceNode, ...]:
    """The host node(s) ``dev`` names; raises InvalidArgument (Docker's message) if none."""
    host = dev.path_on_host
    try:
        resolved = os.path.realpath(host) if os.path.islink(host) else host
        st = os.stat(resolved)
    except OSError as exc:
        raise _gather_error(host, (exc.strerror or str(exc)).lower()) from None
    node = _node(resolved, st, dev.path_in_container, dev.cgroup_permissions)
    if node is not None:
        return (node,)
    if not stat.S_ISDIR(st.st_mode):
        raise _gather_error(host, "not a device node")
    found = []
    for top, dirs, files in os.walk(resolved):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(top, name)
            try:
                child = os.lstat(path)
            except OSError:
                continue
            rel = os.path.relpath(path, resolved)
            n = _node(path, child, os.path.join(dev.path_in_container, rel),
                      dev.cgroup_permissions)
            if n is not None:
                found.append(n)
    if not found:
        raise _gather_error(host, "not a device node")
    return tuple(found)


def resolve_all(devices: tuple[Device, ...]) -> tuple[DeviceNode, ...]:
    return tuple(n for d in devices for n in resolve(d))
