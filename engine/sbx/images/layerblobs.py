"""Layer blobs for push and save: the stored blob when there is one, else a deterministic tar.

A pulled or loaded layer keeps the blob it came from, byte for byte, so it can be pushed
or saved unchanged.  A layer the store only has unpacked (``sbx import``, a build) is
turned back into a tar with ``sbx.layers.diff`` (sorted entries, numeric owners, whole
second times, PAX: the same directory always gives the same bytes), gzip-compressed with
a fixed header, and stored as a blob.  When that tar's sha256 equals the layer's diff id
(layers that were themselves made by ``diff``, as builds make them) the blob is recorded
for the layer; otherwise the tar differs from the one the layer was unpacked from (an
imported rootfs tar in another member order) and the image is exported with a config
whose ``diff_ids`` name the regenerated tars: its id then differs from the local one.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from sbx import atomic
from sbx.layers import Compression, open_layer_stream
from sbx.layers.diff import diff
from sbx.layers.streams import CHUNK
from sbx.oci.digest import Digest, Hasher
from sbx.store import Store
from sbx.store.images import ImageRecord
from sbx.store.locks import named_lock

GZIP_LEVEL = 6  # what docker and containerd use


@dataclass(frozen=True)
class LayerBlob:
    """One layer as a blob in the store."""

    diff_id: Digest      # sha256 of the uncompressed tar the blob holds
    digest: Digest       # sha256 of the blob as stored
    size: int            # bytes of the blob
    tar_size: int        # bytes of the uncompressed tar
    compression: Compression


@dataclass(frozen=True)
class ImageBlobs:
    """An image ready to leave the store: config bytes and one blob per layer."""

    config: bytes
    config_digest: Digest
    layers: tuple[LayerBlob, ...]
    rewritten: bool      # the config differs from the local one (regenerated layer tars)


class _Tee:
    """``write`` hashes the uncompressed bytes and passes them on."""

    def __init__(self, sink: BinaryIO) -> None:
        self.sink = sink
        self.hasher = Hasher()

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        self.sink.write(data)
        return len(data)


def record_blob(store: Store, blob: LayerBlob) -> None:
    """Note ``blob`` as the source of its layer (only for a layer without a stored blob)."""
    layers = store.layers
    with named_lock(store.layout.lock_path(f"layer-{blob.diff_id.hex}")):
        rec = layers.get(blob.diff_id)
        if rec.blob is not None and store.has_blob(rec.blob) and \
                not (rec.compression == "none" and blob.compression is not Compression.NONE):
            return
        new = dataclasses.replace(rec, blob=blob.digest, blob_size=blob.size,
                                  compression=blob.compression.value)
        # LayerStore has no public setter for the blob yet; its metadata file is the record.
        atomic.write_json(layers._meta(blob.diff_id), new.to_json(), fsync=True)


def _stored_blob(store: Store, diff_id: Digest) -> LayerBlob | None:
    rec = store.layer(diff_id)
    if rec.blob is None or not store.has_blob(rec.blob):
        return None
    size = store.blobs.size(rec.blob)
    return LayerBlob(diff_id, rec.blob, size, rec.tar_size, Compression.parse(rec.compression))


def _compress_blob(store: Store, src: LayerBlob) -> LayerBlob:
    """gzip an uncompressed stored blob (same diff id) and record it for the layer."""
    with store.open_blob(src.digest) as f, store.ingest() as writer:
        with gzip.GzipFile(filename="", mode="wb", fileobj=writer,  # type: ignore[arg-type]
                           compresslevel=GZIP_LEVEL, mtime=0) as gz:
            while True:
                data = f.read(CHUNK)
                if not data:
                    break
                gz.write(data)
    assert writer.digest is not None
    out = LayerBlob(src.diff_id, writer.digest, writer.size, src.tar_size, Compression.GZIP)
    record_blob(store, out)
    return out


def _regenerate(store: Store, diff_id: Digest, *, compress: bool) -> LayerBlob:
    """Tar the unpacked layer with ``diff`` into a new blob (gzip when ``compress``)."""
    path = store.layer_path(diff_id)
    with store.ingest() as writer:
        if compress:
            with gzip.GzipFile(filename="", mode="wb", fileobj=writer,  # type: ignore[arg-type]
                               compresslevel=GZIP_LEVEL, mtime=0) as gz:
                tee = _Tee(gz)  # type: ignore[arg-type]
                diff(path, tee)  # type: ignore[arg-type]
        else:
            tee = _Tee(writer)  # type: ignore[arg-type]
            diff(path, tee)  # type: ignore[arg-type]
    assert writer.digest is not None
    out = LayerBlob(tee.hasher.digest(), writer.digest, writer.size, tee.hasher.size,
                    Compression.GZIP if compress else Compression.NONE)
    if out.diff_id == diff_id:
        record_blob(store, out)
    return out


def layer_blob(store: Store, diff_id: Digest, *, compressed: bool) -> LayerBlob:
    """The blob for layer ``diff_id``; ``compressed`` asks for gzip/zstd (for a push)."""
    found = _stored_blob(store, diff_id)
    if found is not None:
        if compressed and found.compression is Compression.NONE:
            return _compress_blob(store, found)
        if found.compression in (Compression.NONE, Compression.GZIP, Compression.ZSTD):
            return found
    return _regenerate(store, diff_id, compress=compressed)


def image_blobs(store: Store, record: ImageRecord, *, compressed: bool) -> ImageBlobs:
    """Blobs for every layer of ``record`` and the config that names them (call in a lease)."""
    raw = store.blobs.read(record.id)
    layers = tuple(layer_blob(store, d, compressed=compressed) for d in record.layer_diff_ids)
    diff_ids = [lb.diff_id for lb in layers]
    if diff_ids == list(record.layer_diff_ids):
        return ImageBlobs(raw, record.id, layers, False)
    obj = json.loads(raw)
    obj.setdefault("rootfs", {"type": "layers"})["diff_ids"] = [str(d) for d in diff_ids]
    new = json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()
    store.put_blob(new)
    return ImageBlobs(new, Digest.of_bytes(new), layers, True)


def open_uncompressed(store: Store, blob: LayerBlob) -> Iterator[bytes]:
    """The layer's uncompressed tar, in chunks (decompressing a gzip/zstd blob on the fly)."""
    with store.open_blob(blob.digest, blob.size) as f:
        if blob.compression is Compression.NONE:
            reader: BinaryIO = f
        else:
            reader = open_layer_stream(f, blob.compression).tar
        while True:
            data = reader.read(CHUNK)
            if not data:
                return
            yield data


__all__ = ["ImageBlobs", "LayerBlob", "image_blobs", "layer_blob",
           "open_uncompressed", "record_blob"]
