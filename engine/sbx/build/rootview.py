"""Read-only lookups in an image's file tree without mounting it: the stacked, unpacked
layer directories searched top down, with overlay whiteouts, opaque directories and
symbolic links (resolved inside the image, never on the host) taken into account.

The builder uses it to decide whether a COPY destination is an existing directory, to
read ``/etc/passwd`` and ``/etc/group`` for ``--chown=name``, to see whether WORKDIR
must be created, and to read ``COPY --from`` sources.
"""

from __future__ import annotations

import os
import posixpath
import stat
from pathlib import Path

from sbx.errors import BuildError
from sbx.layers.whiteouts import is_overlay_opaque, is_overlay_whiteout

_MAX_LINKS = 40


class RootView:
    """The merged view of ``layers`` (lowest first)."""

    def __init__(self, layers: list[Path]) -> None:
        self.layers = list(reversed(layers))  # top first

    def _find(self, parts: list[str]) -> tuple[Path, os.stat_result] | None:
        """The topmost entry at ``parts`` (whose parents are real directories), no link following."""
        if not parts:
            return None
        for layer in self.layers:
            path = layer.joinpath(*parts)
            try:
                st = os.lstat(path)
            except OSError:
                st = None
            if st is not None:
                return None if is_overlay_whiteout(st) else (path, st)
            if self._hides(layer, parts):
                return None
        return None

    @staticmethod
    def _hides(layer: Path, parts: list[str]) -> bool:
        """Does this layer hide lower copies of ``parts``: is its deepest existing parent
        here a whiteout or a non-directory, or is a directory on the way opaque?"""
        for j in range(len(parts) - 1, 0, -1):
            parent = layer.joinpath(*parts[:j])
            try:
                st = os.lstat(parent)
            except OSError:
                continue
            if is_overlay_whiteout(st) or not stat.S_ISDIR(st.st_mode):
                return True
            return any(is_overlay_opaque(layer.joinpath(*parts[:k])) for k in range(1, j + 1))
        return False

    def resolve(self, path: str, *, follow: bool = True) -> tuple[str, Path | None, os.stat_result | None]:
        """``(image path, host path or None, stat or None)`` for an absolute image path.

        Symbolic links in the parents (and the last component with ``follow``) are
        resolved inside the image; the returned image path is the resolved one.
        """
        parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
        done: list[str] = []
        links = 0
        while parts:
            name = parts.pop(0)
            if name == "..":
                if done:
                    done.pop()
                continue
            found = self._find([*done, name])
            if found is not None and stat.S_ISLNK(found[1].st_mode) and (parts or follow):
                links += 1
                if links > _MAX_LINKS:
                    raise BuildError(f"too many levels of symbolic links at /{'/'.join(done + [name])}")
                target = os.readlink(found[0])
                if target.startswith("/"):
                    done = []
                parts = [p for p in target.split("/") if p and p != "."] + parts
                continue
            done.append(name)
            if found is None and parts:
                return "/" + "/".join(done + parts), None, None
        image_path = "/" + "/".join(done)
        if not done:
            return "/", None, None
        found = self._find(done)
        return (image_path, found[0], found[1]) if found else (image_path, None, None)

    def is_dir(self, path: str) -> bool:
        if posixpath.normpath("/" + path.lstrip("/")) == "/":
            return True
        _, _, st = self.resolve(path)
        return st is not None and stat.S_ISDIR(st.st_mode)

    def exists(self, path: str) -> bool:
        return posixpath.normpath("/" + path.lstrip("/")) == "/" or self.resolve(path)[2] is not None

    def read(self, path: str, limit: int = 1 << 20) -> bytes | None:
        _, host, st = self.resolve(path)
        if host is None or st is None or not stat.S_ISREG(st.st_mode):
            return None
        with open(host, "rb") as f:
            return f.read(limit)

    def listdir(self, path: str) -> list[str]:
        """Names in a directory of the merged tree, sorted."""
        image_path, _, st = self.resolve(path)
        if st is None and image_path != "/":
            return []
        parts = [p for p in image_path.split("/") if p]
        names: set[str] = set()
        hidden: set[str] = set()
        for layer in self.layers:
            directory = layer.joinpath(*parts)
            try:
                with os.scandir(directory) as it:
                    for entry in it:
                        if entry.name in names or entry.name in hidden:
                            continue
                        st_e = entry.stat(follow_symlinks=False)
                        (hidden if is_overlay_whiteout(st_e) else names).add(entry.name)
            except OSError:
                pass
            if parts and self._hides(layer, [*parts, "x"]):
                break
        return sorted(names)

    def walk(self, path: str) -> list[tuple[str, Path, os.stat_result]]:
        """Every entry below a directory: (path relative to it, host path, lstat), parents first."""
        out: list[tuple[str, Path, os.stat_result]] = []
        base, _, _ = self.resolve(path)

        def visit(rel: str) -> None:
            for name in self.listdir(f"{base}/{rel}" if rel else base):
                child = f"{rel}/{name}" if rel else name
                parts = [p for p in f"{base}/{child}".split("/") if p]
                found = self._find(parts)
                if found is None:
                    continue
                out.append((child, found[0], found[1]))
                if stat.S_ISDIR(found[1].st_mode):
                    visit(child)

        visit("")
        return out

