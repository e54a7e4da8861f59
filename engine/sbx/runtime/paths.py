"""Join a container path to the rootfs without ever leaving it: symlinks are resolved
component by component *inside* the root (the problem runc's securejoin solves), so an
image whose /etc/hosts is a symlink to /etc/shadow cannot make us mount over the host's."""

from __future__ import annotations

import os

_MAX_LINKS = 255


def secure_join(root: str, path: str) -> str:
    parts = [p for p in path.split("/") if p not in ("", ".")]
    resolved: list[str] = []
    links = 0
    while parts:
        part = parts.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = os.path.join(root, *resolved, part)
        try:
            target = os.readlink(candidate)
        except OSError:
            resolved.append(part)
            continue
        links += 1
        if links > _MAX_LINKS:
            raise OSError(40, "too many levels of symbolic links", path)
        if target.startswith("/"):
            resolved = []
        parts = [p for p in target.split("/") if p not in ("", ".")] + parts
    return os.path.join(root, *resolved)
