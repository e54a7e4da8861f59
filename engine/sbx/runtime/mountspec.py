"""Mount flags: ``-v src:dst[:opts]`` (bind mounts and named/anonymous volumes) and ``--tmpfs``.

Follows moby's Linux ``ParseMountRaw``: an absolute source is a bind mount, any other
source is a volume name, a single path is an anonymous volume; the mode is a comma list
of at most one of each: rw|ro, z|Z (SELinux labels, accepted and ignored here), a
propagation (shared, rshared, slave, rslave, private, rprivate), nocopy, and a
consistency (consistent, cached, delegated; ignored on Linux).  Existence of bind
sources is the caller's check (this module does no I/O).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sbx.errors import InvalidArgument

__all__ = ["BindMount", "VolumeMount", "TmpfsMount", "parse_volume", "parse_tmpfs",
           "PROPAGATIONS"]

PROPAGATIONS = ("shared", "rshared", "slave", "rslave", "private", "rprivate")
_LABELS = ("z", "Z")
_CONSISTENCY = ("consistent", "cached", "delegated", "default")
_VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_HINT_V = "use -v /host/path:/container/path[:ro] or -v NAME:/container/path"


@dataclass(frozen=True)
class BindMount:
    """A host directory or file bound into the container."""

    source: str
    target: str
    read_only: bool = False
    propagation: str = "rprivate"
    idmap: bool = False     # (--userns=auto) idmapped, as podman's ``idmap`` option


@dataclass(frozen=True)
class VolumeMount:
    """A named volume (``name``) or an anonymous one (``name`` None) the caller creates."""

    name: str | None
    target: str
    read_only: bool = False
    nocopy: bool = False


@dataclass(frozen=True)
class TmpfsMount:
    """A tmpfs at ``target``; size in bytes and mode as an int when given."""

    target: str
    size: int | None = None
    mode: int | None = None
    read_only: bool = False
    options: tuple[str, ...] = ()
    """Other mount options in order (noexec, nosuid, nodev, uid=..., nr_inodes=...)."""

    def mount_data(self) -> str:
        """The filesystem data string for mount(2): "size=67108864,mode=1777,..."."""
        parts = [o for o in self.options if "=" in o]
        if self.size is not None:
            parts.insert(0, f"size={self.size}")
        if self.mode is not None:
            parts.insert(1 if self.size is not None else 0, f"mode={self.mode:o}")
        return ",".join(parts)

    def flags(self) -> tuple[str, ...]:
        """The flag options (those without "="), "ro" included when read-only."""
        out = tuple(o for o in self.options if "=" not in o)
        return (*out, "ro") if self.read_only else out


def _invalid_spec(raw: str) -> str:
    return f"invalid volume specification: '{raw}'"


def _parse_mode(mode: str) -> dict[str, str]:
    """Split a mode list by category; InvalidArgument on an invalid mode (ValidMountMode)."""
    found: dict[str, str] = {}
    if not mode:
        return found
    for opt in mode.split(","):
        if opt in ("rw", "ro"):
            cat = "rw"
        elif opt in _LABELS:
            cat = "label"
        elif opt in PROPAGATIONS:
            cat = "propagation"
        elif opt == "nocopy":
            cat = "copy"
        elif opt == "idmap":   # podman's: the bind seen through the container's id map
            cat = "idmap"
        elif opt in _CONSISTENCY:
            cat = "consistency"
        else:
            raise InvalidArgument(f"invalid mode: {mode}", hint=_HINT_V)
        if cat in found:
            raise InvalidArgument(f"invalid mode: {mode}", hint=_HINT_V)
        found[cat] = opt
    return found


def _is_valid_mode(mode: str) -> bool:
    try:
        _parse_mode(mode)
    except InvalidArgument:
        return False
    return True


def _check_target(target: str, raw: str, kind: str) -> str:
    if not target.startswith("/"):
        raise InvalidArgument(
            f"{_invalid_spec(raw)}: invalid mount config for type \"{kind}\": "
            f"invalid mount path: '{target}' mount path must be absolute", hint=_HINT_V)
    norm = "/" + "/".join(p for p in target.split("/") if p and p != ".")
    if norm == "/":
        raise InvalidArgument(f"{_invalid_spec(raw)}: invalid specification: destination can't be '/'",
                              hint=_HINT_V)
    if ".." in norm.split("/"):
        raise InvalidArgument(f"{_invalid_spec(raw)}: mount path must not contain '..'",
                              hint=_HINT_V)
    return norm


def parse_volume(raw: str) -> BindMount | VolumeMount:
    """Parse one ``-v`` value into a bind mount or a (named or anonymous) volume."""
    arr = raw.split(":", 3)
    if not arr[0]:
        raise InvalidArgument(_invalid_spec(raw), hint=_HINT_V)
    source = ""
    mode = ""
    if len(arr) == 1:
        target = arr[0]
    elif len(arr) == 2:
        if _is_valid_mode(arr[1]):
            raise InvalidArgument(_invalid_spec(raw), hint=_HINT_V)
        source, target = arr
    elif len(arr) == 3:
        source, target, mode = arr
    else:
        raise InvalidArgument(_invalid_spec(raw), hint=_HINT_V)
    opts = _parse_mode(mode)
    read_only = opts.get("rw") == "ro"
    if source.startswith("/"):
        target = _check_target(target, raw, "bind")
        if "copy" in opts:
            raise InvalidArgument(f"{_invalid_spec(raw)}: invalid mount config for type \"bind\": "
                                  "nocopy is only valid for volumes", hint=_HINT_V)
        return BindMount(source, target, read_only, opts.get("propagation", "rprivate"),
                         idmap="idmap" in opts)
    target = _check_target(target, raw, "volume")
    if "propagation" in opts or "idmap" in opts:
        what = "propagation" if "propagation" in opts else "idmap (volumes always are)"
        raise InvalidArgument(f"{_invalid_spec(raw)}: invalid mount config for type \"volume\": "
                              f"{what} is only valid for bind mounts", hint=_HINT_V)
    if source and not _VOLUME_NAME.fullmatch(source):
        raise InvalidArgument(
            f"{_invalid_spec(raw)}: \"{source}\" includes invalid characters for a local volume "
            "name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a "
            "host directory, use absolute path", hint=_HINT_V)
    return VolumeMount(source or None, target, read_only, "copy" in opts)


_TMPFS_FLAGS = frozenset({
    "rw", "ro", "exec", "noexec", "suid", "nosuid", "dev", "nodev", "atime", "noatime",
    "diratime", "nodiratime", "relatime", "norelatime", "strictatime", "nostrictatime",
    "sync", "async", "dirsync", "mand", "nomand", "lazytime", "nolazytime",
})
_TMPFS_DATA = frozenset({"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "huge",
                         "mpol", "tmpcopyup", "notmpcopyup"})


def parse_tmpfs(raw: str) -> TmpfsMount:
    """Parse one ``--tmpfs /path[:opt,opt...]`` value (size=64m, mode=1777, noexec...)."""
    hint = "use --tmpfs /path[:size=64m,mode=1777,noexec,...]"
    target, _, opts = raw.partition(":")
    if not target.startswith("/"):
        raise InvalidArgument(f"invalid mount config for type \"tmpfs\": invalid mount path: "
                              f"'{target}' mount path must be absolute", hint=hint)
    norm = "/" + "/".join(p for p in target.split("/") if p and p != ".")
    if norm == "/" or ".." in norm.split("/"):
        raise InvalidArgument(f"invalid tmpfs mount path: '{target}'", hint=hint)
    size = mode = None
    read_only = False
    rest: list[str] = []
    for opt in (o.strip() for o in opts.split(",") if o.strip()):
        key, eq, value = opt.partition("=")
        if eq:
            if key not in _TMPFS_DATA:
                raise InvalidArgument(f"invalid tmpfs option {opt!r} for {norm}", hint=hint)
            if key == "size":
                size = _tmpfs_size(value, norm, hint)
            elif key == "mode":
                if not re.fullmatch(r"[0-7]{1,4}", value):
                    raise InvalidArgument(f"invalid tmpfs mode {value!r} for {norm}: "
                                          "expected octal such as 1777", hint=hint)
                mode = int(value, 8)
            else:
                rest.append(opt)
        elif opt in ("ro", "rw"):
            read_only = opt == "ro"
        elif opt in _TMPFS_FLAGS or opt in ("tmpcopyup", "notmpcopyup"):
            rest.append(opt)
        else:
            raise InvalidArgument(f"invalid tmpfs option {opt!r} for {norm}", hint=hint)
    return TmpfsMount(norm, size, mode, read_only, tuple(rest))


def _tmpfs_size(value: str, target: str, hint: str) -> int:
    from sbx.units import parse_bytes

    text = value[:-1] if value.endswith("%") else value
    if text is not value:
        raise InvalidArgument(f"tmpfs size {value!r} for {target}: percentages are not supported",
                              hint=hint)
    try:
        return parse_bytes(text)
    except InvalidArgument as exc:
        raise InvalidArgument(f"invalid tmpfs size for {target}: {exc.message}", hint=hint) from None
