"""OCI whiteouts (``.wh.NAME``, ``.wh..wh..opq``) and their overlayfs form.

In a layer tar a deleted path ``d/x`` is an empty file ``d/.wh.x`` and a directory whose
lower content is hidden holds ``d/.wh..wh..opq``.  Overlayfs wants a char device 0/0 at
``d/x`` and the xattr ``trusted.overlay.opaque=y`` on ``d`` (``user.overlay.*`` when
mounted with ``userxattr`` in a user namespace).
"""

from __future__ import annotations

import enum
import os
import stat
from dataclasses import dataclass
from pathlib import Path

PREFIX = ".wh."
META_PREFIX = ".wh..wh."
OPAQUE = ".wh..wh..opq"
# trusted.* (kernel overlayfs as root), user.* (kernel overlayfs with userxattr, rootless),
# user.fuseoverlayfs.* (fuse-overlayfs without privileges)
OVERLAY_XATTR_PREFIXES = ("trusted.overlay.", "user.overlay.", "user.fuseoverlayfs.")


class WhiteoutMode(enum.Enum):
    """How an unpacker treats whiteout entries."""

    OVERLAY = "overlay"  # convert to overlayfs form (the layer is an overlay lower dir)
    APPLY = "apply"      # delete the named paths in the destination (flattening layers)
    KEEP = "keep"        # extract ``.wh.*`` as plain files (fuse-overlayfs reads them)


class Kind(enum.Enum):
    FILE = "file"        # hide one path
    OPAQUE = "opaque"    # hide a directory's lower content
    META = "meta"        # other ``.wh..wh.*`` bookkeeping (aufs): ignored


@dataclass(frozen=True)
class Whiteout:
    kind: Kind
    target: str  # FILE: the hidden path; OPAQUE: the directory ("." for the root)


def classify(name: str) -> Whiteout | None:
    """The whiteout a (normalised) member name stands for, or ``None``."""
    parent, _, base = name.rpartition("/")
    if not base.startswith(PREFIX):
        return None
    if base == OPAQUE:
        return Whiteout(Kind.OPAQUE, parent or ".")
    if base.startswith(META_PREFIX):
        return Whiteout(Kind.META, name)
    hidden = base[len(PREFIX):]
    if hidden in ("", ".", ".."):
        return Whiteout(Kind.META, name)
    return Whiteout(Kind.FILE, f"{parent}/{hidden}" if parent else hidden)


def whiteout_name(path: str) -> str:
    """``d/x`` -> ``d/.wh.x``."""
    parent, _, base = path.rpartition("/")
    return f"{parent}/{PREFIX}{base}" if parent else f"{PREFIX}{base}"


def opaque_name(directory: str) -> str:
    return OPAQUE if directory in ("", ".") else f"{directory}/{OPAQUE}"


def make_overlay_whiteout(path: Path) -> None:
    """Create the overlayfs whiteout (char device 0/0, mode 0) at ``path``."""
    os.mknod(path, stat.S_IFCHR, os.makedev(0, 0))


def overlay_xattr_prefix() -> str:
    """``trusted.overlay.`` for root; ``user.overlay.`` in rootless mode, where overlay is
    mounted with ``userxattr`` (trusted.* xattrs need CAP_SYS_ADMIN on the host)."""
    from sbx.rootless.idmap import current

    return "user.overlay." if current().rootless else "trusted.overlay."


def mark_overlay_opaque(directory: Path, prefix: str | None = None) -> None:
    prefix = prefix or overlay_xattr_prefix()
    os.setxattr(directory, f"{prefix}opaque", b"y", follow_symlinks=False)


def is_overlay_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_overlay_opaque(directory: Path) -> bool:
    for prefix in OVERLAY_XATTR_PREFIXES:
        try:
            if os.getxattr(directory, f"{prefix}opaque", follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False
