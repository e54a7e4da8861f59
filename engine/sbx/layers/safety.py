"""Tar member policy for hostile layers: separate, named, pure passes over ``TarInfo``.

Each pass takes a member and the ``Policy`` and returns the member (maybe changed), or
``None`` to skip it, or raises ``UnsafeLayer`` naming the member and the reason.  They
look only at the member, never at the disk; the checks that need the partly extracted
tree (symlinked parents, hardlink targets) live in ``sbx.layers.unpack``.

Order matters and is fixed by ``PASSES``: normalise the name, reject unknown types,
normalise hardlink targets, drop devices we cannot create, fix mode bits, fix owners.
"""

from __future__ import annotations

import logging
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass

from sbx.errors import UnsafeLayer

log = logging.getLogger("sbx.layers")

_HINT = "the layer tar is malformed or hostile; it was not unpacked"

_ALLOWED_TYPES = frozenset({
    tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE, tarfile.GNUTYPE_SPARSE,
    tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE,
    tarfile.CHRTYPE, tarfile.BLKTYPE, tarfile.FIFOTYPE,
})

#: Permission bits always kept: rwx for everyone plus the sticky bit (``/tmp`` is 1777).
BASE_MODE_BITS = 0o1777


@dataclass(frozen=True)
class Policy:
    """What the unpacker may create.

    ``keep_special_bits``: keep setuid/setgid on files (setgid on directories is always
    kept: it only steers group inheritance).  ``allow_devices``: create char/block
    devices (needs CAP_MKNOD); otherwise they are skipped with a warning.
    ``preserve_owner``: keep the numeric uid/gid from the tar (only effective as root).
    """

    keep_special_bits: bool = False
    allow_devices: bool = True
    preserve_owner: bool = True



def _with(member: tarfile.TarInfo, **changes: object) -> tarfile.TarInfo:
    """``TarInfo.replace(deep=False)``, also on Pythons before 3.11.4 that lack it."""
    if hasattr(member, "replace"):
        return member.replace(deep=False, **changes)  # type: ignore[arg-type]
    import copy

    new = copy.copy(member)
    for key, value in changes.items():
        setattr(new, key, value)
    return new

def unsafe(member: tarfile.TarInfo | str, reason: str) -> UnsafeLayer:
    name = member if isinstance(member, str) else member.name
    return UnsafeLayer(f"unsafe layer member {name!r}: {reason}", hint=_HINT)


def clean_path(name: str, *, what: str = "path") -> str:
    """Make a tar path relative and canonical (``/a//./b/`` -> ``a/b``; the root is ``.``).

    Any ``..`` component is refused: a layer has no business naming its parent.
    """
    if "\x00" in name:
        raise unsafe(name, f"{what} contains a NUL byte")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise unsafe(name, f"{what} contains '..' (would escape the layer root)")
    return "/".join(parts) or "."


# -- passes -------------------------------------------------------------------------

def normalize_name(member: tarfile.TarInfo, policy: Policy) -> tarfile.TarInfo | None:
    """Leading ``/`` and ``./`` removed, ``..`` refused."""
    name = clean_path(member.name)
    return member if name == member.name else _with(member, name=name)


def check_type(member: tarfile.TarInfo, policy: Policy) -> tarfile.TarInfo | None:
    """Only files, directories, links, fifos and devices; anything else is refused."""
    if member.type not in _ALLOWED_TYPES:
        raise unsafe(member, f"unsupported tar entry type {member.type!r}")
    if member.name == "." and not member.isdir():
        raise unsafe(member, "the layer root must be a directory")
    return member


def normalize_link(member: tarfile.TarInfo, policy: Policy) -> tarfile.TarInfo | None:
    """Hardlink targets are paths inside the layer: made relative, ``..`` refused.

    Symlink text is left alone: it is resolved inside the container, not here.
    """
    if member.islnk():
        target = clean_path(member.linkname, what=f"hardlink target {member.linkname!r}")
        if target == ".":
            raise unsafe(member, "hardlink to the layer root")
        if target == member.name:
            raise unsafe(member, "hardlink to itself")
        if target != member.linkname:
            return _with(member, linkname=target)
    elif member.issym() and not member.linkname:
        raise unsafe(member, "symlink with an empty target")
    return member


def device_policy(member: tarfile.TarInfo, policy: Policy) -> tarfile.TarInfo | None:
    """Char and block devices only when we can mknod; otherwise skipped with a warning."""
    if (member.ischr() or member.isblk()) and not policy.allow_devices:
        log.debug("skipping device node %s (%d,%d): creating devices needs CAP_MKNOD",
                  member.name, member.devmajor, member.devminor)
        return None
    return member


def mode_policy(member: tarfile.TarInfo, policy: Policy) -> tarfile.TarInfo | None:
    """Keep rwx and sticky; setuid/setgid on files only with ``keep_special_bits``."""
    if member.mode is None or member.issym():
        return member
    keep = BASE_MODE_BITS
    if policy.keep_special_bits:
        keep |= stat.S_ISUID | stat.S_ISGID
    elif member.isdir():
        keep |= stat.S_ISGID
    mode = member.mode & keep
    return member if mode == member.mode else _with(member, mode=mode)


def owner_policy(member: tarfile.TarInfo, policy: Policy) -> tarfile.TarInfo | None:
    """Numeric ids only (host user names mean nothing in a layer); dropped if not preserving."""
    if policy.preserve_owner:
        return member
    return _with(member, uid=None, gid=None, uname=None, gname=None)  # type: ignore[arg-type]


Pass = Callable[[tarfile.TarInfo, Policy], "tarfile.TarInfo | None"]
PASSES: tuple[Pass, ...] = (normalize_name, check_type, normalize_link, device_policy,
                            mode_policy, owner_policy)


def apply_passes(member: tarfile.TarInfo, policy: Policy,
                 passes: tuple[Pass, ...] = PASSES) -> tarfile.TarInfo | None:
    """Run every pass in order; ``None`` as soon as one skips the member."""
    current: tarfile.TarInfo | None = member
    for p in passes:
        if current is None:
            return None
        current = p(current, policy)
    return current


# -- extended attributes carried in PAX headers ---------------------------------------

_XATTR_PREFIX = "SCHILY.xattr."
_ALLOWED_XATTRS = ("security.capability",)


def xattrs_of(member: tarfile.TarInfo) -> dict[str, bytes]:
    """The xattrs a member may carry onto disk: file capabilities and ``user.*``.

    ``trusted.*`` (overlay metadata!) and ``security.*`` labels other than capabilities
    are dropped: a layer must not forge overlay opaque or redirect markers.
    """
    out: dict[str, bytes] = {}
    for key, value in member.pax_headers.items():
        if not key.startswith(_XATTR_PREFIX):
            continue
        name = key[len(_XATTR_PREFIX):]
        if name in _ALLOWED_XATTRS or (name.startswith("user.")
                                       and not name.startswith("user.overlay.")):
            out[name] = value.encode("utf-8", "surrogateescape")
    return out
