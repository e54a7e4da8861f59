"""Compression sniffing and decoding, and the two digests of a layer stream."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma

import pytest
from sbx.errors import StoreError
from sbx.layers.streams import Compression, open_layer_stream

from tests.needs import unavailable

PAYLOAD = bytes(range(256)) * 20_000  # ~5 MB, several reads of 1 MiB


def _read_all(stream_bytes: bytes, compression: Compression | None = None) -> tuple[bytes, object]:
    s = open_layer_stream(io.BytesIO(stream_bytes), compression)
    out = bytearray()
    while chunk := s.tar.read(300_000):
        out += chunk
    s.drain()
    return bytes(out), s


def _zstd(data: bytes) -> bytes:
    try:
        import zstandard
    except ImportError:
        unavailable("zstandard is not installed (the dev extra installs it)")
    return zstandard.ZstdCompressor().compress(data)


@pytest.mark.parametrize(("compress", "kind"), [
    (lambda b: b, Compression.NONE),
    (gzip.compress, Compression.GZIP),
    (lzma.compress, Compression.XZ),
    (bz2.compress, Compression.BZIP2),
    (_zstd, Compression.ZSTD),
])
def test_detect_decode_and_hash(compress, kind: Compression) -> None:  # type: ignore[no-untyped-def]
    blob = compress(PAYLOAD)
    out, s = _read_all(blob)
    assert out == PAYLOAD
    assert s.compression is kind  # type: ignore[attr-defined]
    assert s.plain.hasher.digest().hex == hashlib.sha256(PAYLOAD).hexdigest()  # type: ignore[attr-defined]
    assert s.raw.hasher.digest().hex == hashlib.sha256(blob).hexdigest()  # type: ignore[attr-defined]
    assert s.raw.hasher.size == len(blob)  # type: ignore[attr-defined]


def test_multi_member_gzip() -> None:
    blob = gzip.compress(PAYLOAD[:1000]) + gzip.compress(PAYLOAD[1000:])
    out, _ = _read_all(blob)
    assert out == PAYLOAD


def test_multi_frame_zstd() -> None:
    blob = _zstd(PAYLOAD[:1000]) + _zstd(PAYLOAD[1000:])
    out, _ = _read_all(blob)
    assert out == PAYLOAD


def test_explicit_compression_overrides_sniffing() -> None:
    blob = gzip.compress(b"abc")
    out, s = _read_all(blob, Compression.NONE)
    assert out == blob and s.compression is Compression.NONE  # type: ignore[attr-defined]


def test_truncated_gzip_is_an_error() -> None:
    blob = gzip.compress(PAYLOAD)
    with pytest.raises(StoreError, match="truncated"):
        _read_all(blob[: len(blob) // 3])


@pytest.mark.parametrize(("head", "kind"), [
    (b"\x1f\x8b\x08\x00", Compression.GZIP),
    (b"\x28\xb5\x2f\xfd\x00", Compression.ZSTD),
    (b"\xfd7zXZ\x00", Compression.XZ),
    (b"BZh91AY", Compression.BZIP2),
    (b"etc/\x00\x00", Compression.NONE),
    (b"", Compression.NONE),
])
def test_detect(head: bytes, kind: Compression) -> None:
    assert Compression.detect(head) is kind
