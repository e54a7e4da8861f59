"""Content-addressed blobs in ``blobs/sha256/<hex>``, written through a verifying ingest.

A blob becomes visible only by ``rename`` after its digest (and size, when known) has
been checked and its data fsynced, so readers never see a partial blob and a writer
killed half way leaves only a scratch file in ``layout.tmp``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sbx.errors import DigestMismatch, NotFound, StoreError
from sbx.layout import Layout
from sbx.oci.digest import Digest, Hasher
from sbx.store import scratch
from sbx.store.locks import StoreLock

_BUFFER = 1 << 20


class BlobWriter:
    """Where ingested bytes go: ``write`` hashes and buffers; the digest is known at the end."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open(path, "wb", buffering=_BUFFER)  # noqa: SIM115 - closed in finish()
        self._hasher = Hasher()
        self.digest: Digest | None = None

    def write(self, data: bytes) -> int:
        self._hasher.update(data)
        return self._file.write(data)

    def copy_from(self, source: BinaryIO, chunk: int = _BUFFER) -> None:
        """Stream all of ``source`` into the blob."""
        while True:
            data = source.read(chunk)
            if not data:
                return
            self.write(data)

    @property
    def size(self) -> int:
        return self._hasher.size

    def _finish(self, expected: Digest | None, size: int | None) -> Digest:
        self._file.flush()
        if expected is not None:
            self._hasher.verify(expected, size, what=f"blob {expected}")
        elif size is not None and size != self._hasher.size:
            raise DigestMismatch(f"blob: size mismatch: expected {size} bytes, got {self._hasher.size}")
        os.fsync(self._file.fileno())
        self._file.close()
        self.digest = self._hasher.digest()
        return self.digest

    def _abort(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()
        scratch.remove(self.path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    def __init__(self, layout: Layout, lock: StoreLock) -> None:
        self.layout = layout
        self._lock = lock

    def path(self, digest: Digest) -> Path:
        if digest.algorithm != "sha256":
            raise StoreError(f"unsupported digest algorithm {digest.algorithm!r}")
        return self.layout.blobs / digest.hex

    def has(self, digest: Digest) -> bool:
        return self.path(digest).is_file()

    def size(self, digest: Digest) -> int:
        try:
            return self.path(digest).stat().st_size
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in the store {self.layout.blobs}") from None

    @contextlib.contextmanager
    def ingest(self, expected: Digest | None = None, size: int | None = None) -> Iterator[BlobWriter]:
        """Write a blob: hashed while written, verified, fsynced, renamed into place.

        Idempotent: if the blob is already there the new copy is verified and dropped.
        On any error (including a digest mismatch) nothing is stored.
        """
        with self._lock.shared():
            self.layout.blobs.mkdir(parents=True, exist_ok=True)
            key = expected.hex if expected is not None else "-"
            writer = BlobWriter(scratch.temp_path(self.layout.tmp, "blob", key))
            try:
                yield writer
                digest = writer._finish(expected, size)
            except BaseException:
                writer._abort()
                raise
            final = self.path(digest)
            if final.exists():
                scratch.remove(writer.path)
            else:
                os.replace(writer.path, final)
                _fsync_dir(final.parent)
            if expected is not None:
                scratch.sweep(self.layout.tmp, "blob", expected.hex)

    def put(self, data: bytes, expected: Digest | None = None) -> Digest:
        """Store a small blob held in memory (a config or manifest)."""
        digest = Digest.of_bytes(data)
        if expected is not None and digest != expected:
            raise DigestMismatch(f"blob: digest mismatch: expected {expected}, got {digest}")
        if self.has(digest):
            return digest
        with self.ingest(digest, len(data)) as w:
            w.write(data)
        return digest

    def open(self, digest: Digest, size: int | None = None) -> BinaryIO:
        """Open a stored blob for reading; ``size`` (from a descriptor) is checked."""
        try:
            f = open(self.path(digest), "rb", buffering=_BUFFER)  # noqa: SIM115
        except FileNotFoundError:
            raise NotFound(f"blob {digest} is not in the store {self.layout.blobs}",
                           hint="pull or load the image again") from None
        if size is not None:
            actual = os.fstat(f.fileno()).st_size
            if actual != size:
                f.close()
                raise DigestMismatch(f"blob {digest}: size mismatch: expected {size} bytes, "
                                     f"found {actual} in {self.layout.blobs}",
                                     hint="the store is corrupt; run `sbx image prune` and pull again")
        return f

    def read(self, digest: Digest, *, verify: bool = True) -> bytes:
        with self.open(digest) as f:
            data = f.read()
        if verify and Digest.of_bytes(data) != digest:
            raise DigestMismatch(f"blob {digest} in {self.layout.blobs} does not match its digest",
                                 hint="the store is corrupt; remove the image and pull again")
        return data

    def digests(self) -> Iterator[Digest]:
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.layout.blobs):
                if len(entry.name) == 64:
                    yield Digest("sha256", entry.name)

    def delete(self, digest: Digest) -> int:
        """Remove a blob (call under the exclusive store lock); returns the bytes freed."""
        path = self.path(digest)
        try:
            size = path.stat().st_size
            path.unlink()
        except FileNotFoundError:
            return 0
        return size
