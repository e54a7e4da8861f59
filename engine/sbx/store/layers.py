"""Unpacked layers, one directory per diff id (``layers/<hex>/``), unpacked once per machine.

A layer is unpacked into a scratch directory and renamed into place under a per-layer
``FileLock``: when eight processes ask for the same layer at once, one unpacks and the
others wait and reuse it.  A process killed mid-unpack leaves only its scratch directory,
which the next caller for that layer removes.  Metadata sits next to the directory in
``layers/<hex>.json`` (never inside it: the directory is a container's root).
"""

from __future__ import annotations

import contextlib
import io
import os
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from sbx import atomic
from sbx.errors import DigestMismatch, NotFound, StoreError
from sbx.layers.whiteouts import WhiteoutMode
from sbx.layout import Layout
from sbx.oci.digest import Digest
from sbx.store import scratch
from sbx.store.locks import StoreLock, named_lock

if TYPE_CHECKING:
    from sbx.layers.streams import Compression
    from sbx.layers.unpack import LayerInfo

_HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class LayerRecord:
    """What the store knows about one unpacked layer."""

    diff_id: Digest
    size: int                      # bytes of file data once unpacked
    tar_size: int                  # bytes of the uncompressed tar
    blob: Digest | None = None     # the (compressed) blob it came from, when known
    blob_size: int | None = None
    compression: str = "none"
    created: float = 0.0

    @classmethod
    def from_info(cls, info: LayerInfo) -> LayerRecord:
        return cls(diff_id=info.diff_id, size=info.content_size, tar_size=info.size,
                   blob=info.compressed_digest, blob_size=info.compressed_size,
                   compression=info.compression.value, created=time.time())

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> LayerRecord:
        blob = obj.get("blob")
        return cls(diff_id=Digest.parse(obj["diff_id"]), size=int(obj["size"]),
                   tar_size=int(obj.get("tar_size", 0)),
                   blob=Digest.parse(blob) if blob else None, blob_size=obj.get("blob_size"),
                   compression=obj.get("compression", "none"), created=float(obj.get("created", 0)))

    def to_json(self) -> dict[str, Any]:
        return {"diff_id": str(self.diff_id), "size": self.size, "tar_size": self.tar_size,
                "blob": str(self.blob) if self.blob else None, "blob_size": self.blob_size,
                "compression": self.compression, "created": self.created}


#: Gives the layer data when (and only when) it must be unpacked.
Opener = Callable[[], AbstractContextManager[BinaryIO]]


class LayerStore:
    def __init__(self, layout: Layout, lock: StoreLock, *, keep_special_bits: bool = True,
                 whiteouts: WhiteoutMode = WhiteoutMode.OVERLAY) -> None:
        self.layout = layout
        self._lock = lock
        self.keep_special_bits = keep_special_bits
        self.whiteouts = whiteouts

    # -- paths and lookups ------------------------------------------------------
    def path(self, diff_id: Digest) -> Path:
        return self.layout.layers / diff_id.hex

    def _meta(self, diff_id: Digest) -> Path:
        return self.layout.layers / f"{diff_id.hex}.json"

    def has(self, diff_id: Digest) -> bool:
        return self.path(diff_id).is_dir()

    def get(self, diff_id: Digest) -> LayerRecord:
        if not self.has(diff_id):
            raise NotFound(f"layer {diff_id} is not in the store {self.layout.layers}",
                           hint="pull, load or build the image again")
        try:
            return LayerRecord.from_json(atomic.read_json(self._meta(diff_id)))
        except FileNotFoundError:
            raise StoreError(f"layer {diff_id}: metadata {self._meta(diff_id)} is missing",
                             hint="the store is corrupt; remove the image and pull again") from None

    def records(self) -> Iterator[LayerRecord]:
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.layout.layers):
                if entry.name.endswith(".json") and len(entry.name) == 69:
                    with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
                        rec = LayerRecord.from_json(atomic.read_json(Path(entry.path)))
                        if self.has(rec.diff_id):
                            yield rec

    def dir_names(self) -> Iterator[str]:
        """Every entry name under ``layers/`` (directories and metadata), for the sweeper."""
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.layout.layers):
                yield entry.name

    def by_blob(self, blob: Digest) -> LayerRecord | None:
        return next((r for r in self.records() if r.blob == blob), None)

    # -- adding -----------------------------------------------------------------
    def ensure(self, diff_id: Digest, opener: Opener, *, compression: Compression | None = None,
               blob: Digest | None = None) -> LayerRecord:
        """The layer ``diff_id``, unpacked from ``opener()`` only if nobody has done it yet."""
        if self.has(diff_id):
            return self.get(diff_id)
        with self._lock.shared(), named_lock(self.layout.lock_path(f"layer-{diff_id.hex}")):
            if self.has(diff_id):
                return self.get(diff_id)
            scratch.sweep(self.layout.tmp, "layer", diff_id.hex, only_dead=False)
            tmp = self._new_scratch(diff_id.hex)
            try:
                with opener() as source:
                    info = self._unpack(source, tmp, compression)
                if info.diff_id != diff_id:
                    raise DigestMismatch(f"layer: diff id mismatch: expected {diff_id}, "
                                         f"got {info.diff_id}",
                                         hint="the image config and the layer blob disagree; "
                                              "nothing was stored")
                return self._install(tmp, LayerRecord.from_info(info), blob=blob)
            except BaseException:
                scratch.remove(tmp)
                raise

    def add(self, source: BinaryIO | str | os.PathLike[str], *,
            compression: Compression | None = None) -> LayerRecord:
        """Register a layer from a tar stream or file whose diff id is not known yet.

        A file (or any seekable stream) is hashed first so that concurrent callers with the
        same input wait for one unpack; a pipe is unpacked and then deduplicated.
        """
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb", buffering=0) as f:
                return self._add_seekable(f, compression)  # type: ignore[arg-type]
        if _seekable(source):
            return self._add_seekable(source, compression)
        return self._add_stream(source, compression)

    def _add_seekable(self, f: BinaryIO, compression: Compression | None) -> LayerRecord:
        start = f.tell()
        blob = _hash_stream(f)
        f.seek(start)
        with self._lock.shared(), named_lock(self.layout.lock_path(f"layer-src-{blob.hex}")):
            existing = self.by_blob(blob)
            if existing is not None:
                return existing
            return self._add_stream(f, compression)

    def _add_stream(self, f: BinaryIO, compression: Compression | None) -> LayerRecord:
        with self._lock.shared():
            tmp = self._new_scratch("anon")
            try:
                info = self._unpack(f, tmp, compression)
                with named_lock(self.layout.lock_path(f"layer-{info.diff_id.hex}")):
                    if self.has(info.diff_id):
                        scratch.remove(tmp)
                        return self.get(info.diff_id)
                    return self._install(tmp, LayerRecord.from_info(info))
            except BaseException:
                scratch.remove(tmp)
                raise
            finally:
                scratch.sweep(self.layout.tmp, "layer", "anon")

    def _new_scratch(self, key: str) -> Path:
        tmp = scratch.temp_path(self.layout.tmp, "layer", key)
        os.mkdir(tmp, 0o755)
        os.chmod(tmp, 0o755)  # the layer root; the tar's "./" entry may change it
        return tmp

    def _unpack(self, source: BinaryIO, dest: Path, compression: Compression | None) -> LayerInfo:
        from sbx.layers.unpack import unpack

        return unpack(source, dest, compression=compression, whiteouts=self.whiteouts,
                      keep_special_bits=self.keep_special_bits)

    def _install(self, tmp: Path, record: LayerRecord, *, blob: Digest | None = None) -> LayerRecord:
        """Metadata first, then the directory by rename (caller holds the layer lock)."""
        if blob is not None and record.blob != blob:
            record = LayerRecord(record.diff_id, record.size, record.tar_size, blob,
                                 record.blob_size, record.compression, record.created)
        self.layout.layers.mkdir(mode=0o700, parents=True, exist_ok=True)
        atomic.write_json(self._meta(record.diff_id), record.to_json(), fsync=True)
        os.replace(tmp, self.path(record.diff_id))
        return record

    # -- removal (exclusive store lock held by the caller) -----------------------
    def delete(self, diff_id: Digest) -> int:
        """Remove a layer; returns its recorded size.  Renamed aside first, then removed."""
        path = self.path(diff_id)
        size = 0
        with contextlib.suppress(FileNotFoundError, ValueError, KeyError):
            size = LayerRecord.from_json(atomic.read_json(self._meta(diff_id))).size
        if path.exists():
            aside = scratch.temp_path(self.layout.tmp, "layer", "deleted")
            os.replace(path, aside)
            scratch.remove(aside)
        scratch.remove(self._meta(diff_id))
        return size


def _seekable(f: BinaryIO) -> bool:
    try:
        return f.seekable() and f.tell() >= 0
    except (AttributeError, OSError, io.UnsupportedOperation):
        return False


def _hash_stream(f: BinaryIO) -> Digest:
    import hashlib

    h = hashlib.sha256()
    buf = bytearray(_HASH_CHUNK)
    view = memoryview(buf)
    readinto = getattr(f, "readinto", None)
    if readinto is not None:
        while True:
            n = readinto(view)
            if not n:
                break
            h.update(view[:n])
    else:
        while True:
            data = f.read(_HASH_CHUNK)
            if not data:
                break
            h.update(data)
    return Digest("sha256", h.hexdigest())
