"""The copying storage driver's two halves: a container root made by copying the image's
unpacked layers (``flatten``), and the layer of what a container changed, found by
comparing its root with the layers again (``changes``).

This is the fallback that always works (as podman's ``vfs``): no overlay mount, at the
cost of a full copy per container.  Layers hold overlay-form whiteouts (char 0/0) and
opaque markers, which ``flatten`` applies; owners, modes, times, symlinks, hard links
within a layer and ``security.capability`` are kept."""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

from sbx.layers import whiteouts as wh

_KEPT_XATTRS = ("security.capability",)


def _clear(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _copy_meta(src_st: os.stat_result, src: str, dst: str) -> None:
    is_link = stat.S_ISLNK(src_st.st_mode)
    try:
        os.chown(dst, src_st.st_uid, src_st.st_gid, follow_symlinks=False)
    except OSError:
        pass  # an id this process cannot map: the file stays ours
    if not is_link:
        os.chmod(dst, stat.S_IMODE(src_st.st_mode))
        for name in _KEPT_XATTRS:
            try:
                os.setxattr(dst, name, os.getxattr(src, name, follow_symlinks=False))
            except OSError:
                pass
    os.utime(dst, ns=(src_st.st_atime_ns, src_st.st_mtime_ns), follow_symlinks=False)


def flatten(layers: list[Path], dest: Path) -> None:
    """Copy ``layers`` (lowest first) into ``dest`` as the merged tree overlay would show."""
    dirs: dict[str, tuple[str, os.stat_result]] = {}   # dest dir -> its topmost source
    for layer in layers:
        links: dict[tuple[int, int], str] = {}
        for root, names, files in os.walk(layer):
            rel = os.path.relpath(root, layer)
            target_dir = str(dest) if rel == "." else os.path.join(dest, rel)
            if rel != "." and wh.is_overlay_opaque(Path(root)):
                for child in os.listdir(target_dir):
                    _clear(os.path.join(target_dir, child))
            for name in sorted(names) + sorted(files):
                src = os.path.join(root, name)
                dst = os.path.join(target_dir, name)
                st = os.lstat(src)
                if wh.is_overlay_whiteout(st):
                    _clear(dst)
                    continue
                mode = st.st_mode
                if stat.S_ISDIR(mode):
                    try:
                        if not stat.S_ISDIR(os.lstat(dst).st_mode):
                            _clear(dst)
                            os.mkdir(dst)
                    except FileNotFoundError:
                        os.mkdir(dst)
                    dirs[dst] = (src, st)
                    continue
                _clear(dst)
                key = (st.st_dev, st.st_ino)
                if stat.S_ISREG(mode) and st.st_nlink > 1 and key in links:
                    os.link(links[key], dst)
                    continue
                if stat.S_ISLNK(mode):
                    os.symlink(os.readlink(src), dst)
                elif stat.S_ISREG(mode):
                    shutil.copyfile(src, dst, follow_symlinks=False)
                    if st.st_nlink > 1:
                        links[key] = dst
                elif stat.S_ISFIFO(mode):
                    os.mkfifo(dst)
                else:
                    try:
                        os.mknod(dst, mode, st.st_rdev)
                    except OSError:
                        continue  # devices: the container gets its /dev from the runtime
                _copy_meta(st, src, dst)
    # directories last (deepest first): filling them changed their times
    for dst in sorted(dirs, key=lambda p: p.count("/"), reverse=True):
        src, st = dirs[dst]
        try:
            _copy_meta(st, src, dst)
        except FileNotFoundError:
            pass  # removed by a later layer
    if layers:
        _copy_meta(os.lstat(layers[-1]), str(layers[-1]), str(dest))


def _walk(root: Path, rel: str = "") -> Iterator[tuple[str, os.stat_result, str]]:
    base = root / rel if rel else root
    with os.scandir(base) as it:
        entries = sorted(it, key=lambda e: e.name)
    for entry in entries:
        name = f"{rel}/{entry.name}" if rel else entry.name
        st = entry.stat(follow_symlinks=False)
        yield name, st, entry.path
        if stat.S_ISDIR(st.st_mode):
            yield from _walk(root, name)


def _same(a: os.stat_result, b: os.stat_result, pa: str, pb: str) -> bool:
    if stat.S_IFMT(a.st_mode) != stat.S_IFMT(b.st_mode) or a.st_mode != b.st_mode:
        return False
    if (a.st_uid, a.st_gid) != (b.st_uid, b.st_gid):
        return False
    if stat.S_ISDIR(a.st_mode):
        return True  # a directory's own time changes with its entries: not a change of it
    if a.st_mtime_ns != b.st_mtime_ns or a.st_size != b.st_size:
        return False
    if stat.S_ISLNK(a.st_mode):
        return os.readlink(pa) == os.readlink(pb)
    return True


def changes(tree: Path, base: object) -> Iterator[tuple[tarfile.TarInfo, str | None]]:
    """The tar entries of what differs in ``tree`` from ``base`` (a ``RootView`` of the
    image's layers): new or changed entries, and ``.wh.`` whiteouts for removed ones,
    in the same form as ``sbx.layers.diff.members``."""
    from sbx.layers.diff import entry_info

    view = base  # RootView: resolve(path, follow=False) -> (path, host, stat)
    links: dict[tuple[int, int], str] = {}
    present: set[str] = set()
    dirs: set[str] = set()
    for name, st, path in _walk(tree):
        present.add(name)
        if stat.S_ISDIR(st.st_mode):
            dirs.add(name)
        _, host, below = view.resolve("/" + name, follow=False)  # type: ignore[attr-defined]
        if below is not None and host is not None and _same(st, below, path, str(host)):
            continue
        found = entry_info(name, st, path, links)
        if found is not None:
            yield found
    # removed: in the image, not in the tree (only the topmost missing entry)
    for rel, _host, _st in view.walk("/"):  # type: ignore[attr-defined]
        parent = rel.rpartition("/")[0]
        if rel not in present and (not parent or parent in dirs):
            ti = tarfile.TarInfo(wh.whiteout_name(rel))
            ti.mode = 0o644
            ti.uname = ti.gname = ""
            yield ti, None
