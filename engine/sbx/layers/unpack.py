"""Unpack a (possibly compressed, possibly hostile) layer tar into a directory.

The stream is read once: it is decompressed, hashed (the diff id is the sha256 of the
uncompressed tar, the blob digest that of the bytes as given) and extracted as it goes.
Each member goes through the pure passes of ``sbx.layers.safety``, then through checks
against the tree extracted so far (no writing through a symlink, hardlinks only to
regular files already in the layer, a later entry replaces an earlier one), and is then
created by ``sbx.layers.writer`` (``O_EXCL|O_NOFOLLOW`` files, a lexical containment
check on every path).  ``tarfile``'s own extraction (behind ``tarfile.tar_filter``) is
used only for sparse files; running its filter on every member cost 40% of the unpack
time for a second ``realpath`` of paths already proven safe.  Directory modes and times
are applied at the end, on real directories only.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sbx.errors import StoreError, UnsafeLayer
from sbx.layers import whiteouts as wh
from sbx.layers.safety import Policy, apply_passes, unsafe, xattrs_of
from sbx.layers.streams import Compression, LayerStream, open_layer_stream
from sbx.layers.whiteouts import WhiteoutMode
from sbx.layers.writer import Writer
from sbx.oci.digest import Digest

log = logging.getLogger("sbx.layers")

# tarfile's extraction filters exist from Python 3.12 (3.11.4 and 3.10.12 as backports).
_HAS_FILTERS = hasattr(tarfile, "tar_filter")
_FILTER_ERRORS: tuple[type[Exception], ...] = (tarfile.FilterError,) if _HAS_FILTERS else ()
_TAR_BUFSIZE = 16 * 1024        # tarfile's own read-ahead (small: it re-slices its buffer)
_COPY_BUFSIZE = 1 << 20         # file data copied in 1 MiB chunks


@dataclass(frozen=True)
class LayerInfo:
    """What unpacking learned about a layer."""

    diff_id: Digest            # sha256 of the uncompressed tar
    size: int                  # bytes of the uncompressed tar
    content_size: int          # bytes of regular file data (each hardlinked file once)
    compressed_digest: Digest  # sha256 of the bytes as read (== diff_id when uncompressed)
    compressed_size: int
    compression: Compression


@contextlib.contextmanager
def _opened(source: BinaryIO | str | os.PathLike[str]) -> Iterator[BinaryIO]:
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb", buffering=0) as f:
            yield f  # type: ignore[misc]
    else:
        yield source


def unpack(source: BinaryIO | str | os.PathLike[str], dest: Path, *,
           compression: Compression | None = None,
           whiteouts: WhiteoutMode = WhiteoutMode.OVERLAY,
           keep_special_bits: bool = False,
           preserve_owner: bool | None = None) -> LayerInfo:
    """Extract a layer tar into ``dest`` (created if missing) and return its digests.

    ``compression`` is sniffed from the magic bytes when ``None`` (gzip, zstd, xz, bzip2
    or none).  ``preserve_owner`` defaults to "when running as root".  Raises
    ``UnsafeLayer`` for a member that would escape ``dest`` or is not allowed; ``dest``
    then holds a partial tree that the caller must discard.
    """
    if preserve_owner is None:
        preserve_owner = os.geteuid() == 0
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    with _opened(source) as f:
        stream = open_layer_stream(f, compression)
        extractor = _Extractor(dest, stream, whiteouts=whiteouts,
                               keep_special_bits=keep_special_bits, preserve_owner=preserve_owner)
        extractor.run()
        stream.drain()
    return LayerInfo(diff_id=stream.plain.hasher.digest(), size=stream.plain.hasher.size,
                     content_size=extractor.content_size,
                     compressed_digest=stream.raw.hasher.digest(),
                     compressed_size=stream.raw.hasher.size,
                     compression=stream.compression)


def _can_mknod(dest: Path) -> bool:
    probe = dest / ".sbx-mknod-probe"
    try:
        os.mknod(probe, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except OSError:
        return False
    os.unlink(probe)
    return True


@dataclass
class _DirAttrs:
    name: str
    mode: int | None
    uid: int | None
    gid: int | None
    mtime: float | None


class _Extractor:
    """One pass over one tar stream into one directory (see the module docstring)."""

    def __init__(self, dest: Path, stream: LayerStream, *, whiteouts: WhiteoutMode,
                 keep_special_bits: bool, preserve_owner: bool) -> None:
        self.dest = dest
        self.stream = stream
        self.whiteouts = whiteouts
        self.policy = Policy(keep_special_bits=keep_special_bits, allow_devices=True,
                             preserve_owner=preserve_owner)
        self._devices_probed = False
        self.skipped_devices: list[str] = []
        self._real_dirs: set[str] = {"."}      # verified: a real directory inside dest
        self._dirs: dict[str, _DirAttrs] = {}  # directory attributes applied at the end
        self._seen: set[str] = set()           # names extracted, with their ancestors
        self._opaque: list[str] = []           # APPLY mode: directories to empty at the end
        self._created: set[str] = set()        # names this run wrote (maybe since removed)
        self._was_empty = not any(os.scandir(dest))
        self.writer = Writer(str(dest), owner=preserve_owner)
        self.content_size = 0

    # -- driver ------------------------------------------------------------------
    def run(self) -> None:
        try:
            tar = tarfile.open(fileobj=self.stream.tar, mode="r|", bufsize=_TAR_BUFSIZE)
        except tarfile.ReadError as exc:
            raise StoreError(f"layer is not a tar archive: {exc}",
                             hint="expected a tar stream, optionally gzip/zstd compressed") from None
        tar.errorlevel = 1
        tar.copybufsize = _COPY_BUFSIZE  # type: ignore[attr-defined]  # missing from typeshed
        try:
            for member in tar:
                self._one(tar, member)
        except tarfile.ReadError as exc:
            raise StoreError(f"layer tar is corrupt or truncated: {exc}",
                             hint="the download or file was cut short; fetch it again") from None
        except _FILTER_ERRORS as exc:  # pragma: no cover - our checks run first
            raise unsafe(exc.tarinfo, str(exc)) from None  # type: ignore[attr-defined]
        finally:
            tar.close()
        if self._opaque:
            self._apply_opaque()
        self._finish_dirs()
        if self.skipped_devices:
            names = ", ".join(self.skipped_devices[:4]) + (", ..." if len(self.skipped_devices) > 4 else "")
            log.warning("note: skipped %d device node(s) of the layer (%s): creating devices needs "
                        "CAP_MKNOD on the host; containers get their /dev from sbx",
                        len(self.skipped_devices), names)

    def _one(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> None:
        if (member.ischr() or member.isblk()) and not self._devices_probed:
            self._devices_probed = True
            if not _can_mknod(self.dest):
                self.policy = Policy(self.policy.keep_special_bits, False, self.policy.preserve_owner)
        m = apply_passes(member, self.policy)
        if m is None:
            if member.ischr() or member.isblk():
                self.skipped_devices.append(member.name)
            return
        if self.whiteouts is not WhiteoutMode.KEEP:
            w = wh.classify(m.name)
            if w is not None:
                self._whiteout(m, w)
                return
        self._check_parents(m.name, m)
        if m.islnk():
            self._check_hardlink(m)
        self._clear_target(m.name, m.isdir())
        if m.isdir():
            self._dirs[m.name] = _DirAttrs(m.name, m.mode, m.uid, m.gid, m.mtime)
            if m.name == ".":
                self._mark_seen(m.name)
                return  # the root exists; its attributes are applied at the end
        if m.issparse():  # rare: let tarfile rebuild the holes, behind its own filter too
            self._was_empty = False  # tarfile may create parents we do not track
            if _HAS_FILTERS:
                tar.extract(m, str(self.dest), set_attrs=True, numeric_owner=True,
                            filter=self._base_filter)
            else:  # Python < 3.11.4 (Debian 12's 3.11.2): our passes already vetted ``m``
                tar.extract(m, str(self.dest), set_attrs=True, numeric_owner=True)
        else:
            parent = m.name.rpartition("/")[0]
            if parent and parent not in self._real_dirs:
                made = self.writer.make_parents(m.name)
                self._real_dirs.add(parent)
                self._created.update(made)
            if m.isdir():
                self.writer.mkdir(m)
            else:
                self.writer.write(tar, m)
        self._created.add(m.name)
        if m.isdir():
            self._real_dirs.add(m.name)
        elif m.isreg():
            self.content_size += m.size
        self._mark_seen(m.name)
        if m.pax_headers and not m.issym():
            self._set_xattrs(m)

    def _base_filter(self, member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
        """The standard library's containment check, keeping our own mode decision."""
        tarfile.tar_filter(member, dest)
        return member

    # -- checks against the tree ---------------------------------------------------
    def _check_parents(self, name: str, m: tarfile.TarInfo) -> None:
        """Every existing ancestor of ``name`` must be a real directory (no symlink to follow)."""
        parent = name.rpartition("/")[0] if name != "." else ""
        if not parent or parent in self._real_dirs:
            return
        parts = parent.split("/")
        for i in range(len(parts)):
            sub = "/".join(parts[: i + 1])
            if sub in self._real_dirs:
                continue
            try:
                st = os.lstat(os.path.join(self.dest, sub))
            except FileNotFoundError:
                return  # the rest is created as plain directories by tarfile
            if stat.S_ISLNK(st.st_mode):
                raise unsafe(m, f"its path goes through the symlink {sub!r} (writing there would follow it)")
            if not stat.S_ISDIR(st.st_mode):
                raise unsafe(m, f"its parent {sub!r} is not a directory")
            self._real_dirs.add(sub)

    def _check_hardlink(self, m: tarfile.TarInfo) -> None:
        target = m.linkname
        self._check_parents(target, m)
        try:
            st = os.lstat(os.path.join(self.dest, target))
        except FileNotFoundError:
            raise unsafe(m, f"hardlink target {target!r} is not in the layer") from None
        except NotADirectoryError:
            raise unsafe(m, f"hardlink target {target!r} is not in the layer") from None
        if stat.S_ISDIR(st.st_mode) or stat.S_ISLNK(st.st_mode):
            kind = "a directory" if stat.S_ISDIR(st.st_mode) else "a symlink"
            raise unsafe(m, f"hardlink target {target!r} is {kind}")

    def _clear_target(self, name: str, is_dir: bool) -> None:
        """A later entry replaces an earlier one; directories merge with directories."""
        if name == ".":
            return
        if self._was_empty and name not in self._created:
            return  # this run never wrote there and the tree started empty: nothing to clear
        path = os.path.join(self.dest, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            if is_dir:
                return
            shutil.rmtree(path)
            self._forget_dirs(name)
        else:
            os.unlink(path)

    def _forget_dirs(self, name: str) -> None:
        prefix = name + "/"
        self._real_dirs = {d for d in self._real_dirs if d != name and not d.startswith(prefix)}
        self._dirs = {k: v for k, v in self._dirs.items() if k != name and not k.startswith(prefix)}

    def _mark_seen(self, name: str) -> None:
        if self._opaque or self.whiteouts is WhiteoutMode.APPLY:
            while name and name not in self._seen:
                self._seen.add(name)
                name = name.rpartition("/")[0]

    # -- whiteouts ------------------------------------------------------------------
    def _whiteout(self, m: tarfile.TarInfo, w: wh.Whiteout) -> None:
        if w.kind is wh.Kind.META:
            return
        self._check_parents(w.target, m)
        if w.kind is wh.Kind.FILE:
            self._file_whiteout(m, w.target)
        else:
            self._opaque_dir(m, w.target)

    def _file_whiteout(self, m: tarfile.TarInfo, target: str) -> None:
        path = os.path.join(self.dest, target)
        if self.whiteouts is WhiteoutMode.APPLY:
            with contextlib.suppress(FileNotFoundError):
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)
                    self._forget_dirs(target)
                else:
                    os.unlink(path)
            return
        self._clear_target(target, False)
        self._created.update(self.writer.make_parents(target))
        self._created.add(target)
        try:
            wh.make_overlay_whiteout(Path(path))
        except PermissionError as exc:
            raise StoreError(f"cannot create overlay whiteout for {target!r} in {self.dest}: {exc.strerror}",
                             hint="overlay whiteouts need root (CAP_MKNOD); "
                                  "unpack with whiteouts=KEEP or APPLY otherwise") from None
        self._mark_seen(target)

    def _opaque_dir(self, m: tarfile.TarInfo, directory: str) -> None:
        path = os.path.join(self.dest, directory)
        if self.whiteouts is WhiteoutMode.APPLY:
            self._opaque.append(directory)
            self._mark_seen(directory)
            return
        if directory != ".":
            self._created.update(self.writer.make_parents(directory + "/x"))
        self._real_dirs.add(directory)
        try:
            wh.mark_overlay_opaque(Path(path))
        except OSError as exc:
            if exc.errno in (errno.EPERM, errno.ENOTSUP, errno.EACCES):
                raise StoreError(f"cannot mark {directory!r} opaque in {self.dest}: {exc.strerror}",
                                 hint="trusted.overlay.* xattrs need root (CAP_SYS_ADMIN); "
                                      "unpack with whiteouts=KEEP or APPLY otherwise") from None
            raise
        self._mark_seen(directory)

    def _apply_opaque(self) -> None:
        """APPLY mode: empty each opaque directory of what this layer did not bring."""
        for directory in self._opaque:
            base = os.path.join(self.dest, directory)
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                for entry in os.scandir(base):
                    rel = entry.name if directory == "." else f"{directory}/{entry.name}"
                    if rel in self._seen:
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path)
                    else:
                        os.unlink(entry.path)

    # -- attributes -------------------------------------------------------------------
    def _set_xattrs(self, m: tarfile.TarInfo) -> None:
        for name, value in xattrs_of(m).items():
            try:
                os.setxattr(os.path.join(self.dest, m.name), name, value, follow_symlinks=False)
            except OSError as exc:
                log.warning("layer member %s: cannot set xattr %s: %s", m.name, name, exc.strerror)

    def _finish_dirs(self) -> None:
        """Owners, modes and times of directories, deepest first, on real directories only."""
        for attrs in sorted(self._dirs.values(), key=lambda a: a.name, reverse=True):
            path = os.path.join(self.dest, attrs.name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                continue
            if self.policy.preserve_owner and os.geteuid() == 0 and \
                    (attrs.uid is not None or attrs.gid is not None):
                os.chown(path, -1 if attrs.uid is None else attrs.uid,
                         -1 if attrs.gid is None else attrs.gid, follow_symlinks=False)
            if attrs.mode is not None:
                os.chmod(path, attrs.mode)
            if attrs.mtime is not None:
                os.utime(path, (attrs.mtime, attrs.mtime), follow_symlinks=False)


__all__ = ["LayerInfo", "unpack", "UnsafeLayer", "WhiteoutMode", "Compression"]
