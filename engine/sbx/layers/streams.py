"""Readable streams for layer data: sha256 while reading, and compression sniffing/decoding.

``open_layer_stream`` turns any readable binary file into an uncompressed tar stream and
keeps two digests: of the bytes read from the source (the blob digest) and of the
uncompressed bytes (the diff id).  Everything is streamed in large chunks; nothing is
read into memory whole.
"""

from __future__ import annotations

import bz2
import enum
import io
import lzma
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

from sbx.errors import InvalidArgument, StoreError
from sbx.oci.digest import Hasher

CHUNK = 1 << 20  # 1 MiB reads from the source


class Compression(enum.Enum):
    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"
    XZ = "xz"
    BZIP2 = "bzip2"

    @classmethod
    def detect(cls, head: bytes) -> Compression:
        """Recognise a compressed stream by its magic bytes; anything else is plain."""
        if head[:2] == b"\x1f\x8b":
            return cls.GZIP
        if head[:4] == b"\x28\xb5\x2f\xfd":
            return cls.ZSTD
        if head[:6] == b"\xfd7zXZ\x00":
            return cls.XZ
        if head[:3] == b"BZh":
            return cls.BZIP2
        return cls.NONE

    @classmethod
    def parse(cls, text: str) -> Compression:
        try:
            return cls(text)
        except ValueError:
            raise InvalidArgument(f"unknown compression {text!r}",
                                  hint="use none, gzip, zstd, xz or bzip2") from None


class HashingReader(io.RawIOBase):
    """Reads from ``source`` and feeds every byte to a ``Hasher``."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.hasher = Hasher()

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview | bytearray) -> int:  # type: ignore[override]
        data = self._source.read(len(b))
        if not data:
            return 0
        n = len(data)
        b[:n] = data
        self.hasher.update(data)
        return n

    def read(self, size: int = -1) -> bytes:
        data = self._source.read(size)
        if data:
            self.hasher.update(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK):
            pass


class _StdlibDecompressingReader(io.RawIOBase):
    """Bounded-output decompression for gzip (multi-member), xz and bzip2 (multi-stream)."""

    def __init__(self, source: BinaryIO, kind: Compression) -> None:
        self._source = source
        self._kind = kind
        self._pending = b""  # compressed input not yet given to the decompressor
        self._d = self._new()
        self._started = False  # current member received input
        self._done = False

    def _new(self) -> Any:
        if self._kind is Compression.GZIP:
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        if self._kind is Compression.XZ:
            return lzma.LZMADecompressor()
        return bz2.BZ2Decompressor()

    def readable(self) -> bool:
        return True

    def _eof(self) -> bool:
        return bool(self._d.eof)

    def _unused(self) -> bytes:
        return bytes(self._d.unused_data)

    def readinto(self, b: memoryview | bytearray) -> int:  # type: ignore[override]
        want = len(b)
        while not self._done:
            if self._eof():
                rest = self._unused() + self._pending
                self._pending = b""
                if not rest:
                    rest = self._source.read(CHUNK)
                if not rest or not rest.strip(b"\x00"):
                    # End of data (trailing NUL padding after gzip members is tolerated).
                    self._done = True
                    break
                self._d = self._new()
                self._pending = rest
                self._started = False
            out = self._step(want)
            if out is None:
                continue
            n = len(out)
            b[:n] = out
            return n
        return 0

    def _step(self, want: int) -> bytes | None:
        d = self._d
        if self._kind is Compression.GZIP:
            data = d.unconsumed_tail or self._pending
            self._pending = b""
            if not data:
                data = self._source.read(CHUNK)
                if not data:
                    raise StoreError("compressed layer stream ends early (truncated gzip data)",
                                     hint="the download or file was cut short; fetch it again")
            self._started = True
            out = d.decompress(data, want)
            return out or None
        needs = d.needs_input
        data = self._pending
        self._pending = b""
        if needs and not data:
            data = self._source.read(CHUNK)
            if not data:
                raise StoreError(f"compressed layer stream ends early (truncated {self._kind.value} data)",
                                 hint="the download or file was cut short; fetch it again")
        out = d.decompress(data, want)
        return out or None


def _zstd_reader(source: BinaryIO) -> BinaryIO:
    try:
        import zstandard
    except ImportError:
        raise StoreError("layer is zstd-compressed but the 'zstandard' module is not installed",
                         hint="pip install 'pytest-sandbox[zstd]'") from None
    dctx = zstandard.ZstdDecompressor(max_window_size=1 << 31)
    return dctx.stream_reader(source, read_size=CHUNK, read_across_frames=True,
                              closefd=False)  # type: ignore[return-value]


@dataclass
class LayerStream:
    """An uncompressed tar stream plus the two running digests."""

    tar: BinaryIO                 # buffered, uncompressed bytes
    compression: Compression
    raw: HashingReader            # hashes the bytes as read from the source
    plain: HashingReader          # hashes the uncompressed bytes (the diff id)

    def drain(self) -> None:
        """Read to the end so both digests cover the whole stream (tar end padding too)."""
        while self.tar.read(CHUNK):
            pass
        self.raw.drain()


def open_layer_stream(source: BinaryIO, compression: Compression | None = None) -> LayerStream:
    """Wrap ``source`` (read from its current position) as an uncompressed hashed stream."""
    raw = HashingReader(source)
    buffered = io.BufferedReader(raw, buffer_size=CHUNK)
    if compression is None:
        compression = Compression.detect(buffered.peek(8)[:8])
    decoded: BinaryIO
    if compression is Compression.NONE:
        decoded = buffered
        plain = raw
        return LayerStream(decoded, compression, raw, plain)
    if compression is Compression.ZSTD:
        decoded = _zstd_reader(buffered)
    else:
        decoded = _StdlibDecompressingReader(buffered, compression)  # type: ignore[assignment]
    plain = HashingReader(decoded)
    return LayerStream(io.BufferedReader(plain, buffer_size=CHUNK), compression, raw, plain)
