"""Blob ingest: verified, atomic, idempotent; nothing partial is ever visible."""

from __future__ import annotations

import io
import os

import pytest
from sbx.errors import DigestMismatch, NotFound
from sbx.oci.digest import Digest
from sbx.store import Store


def test_ingest_unknown_digest(store: Store) -> None:
    with store.ingest() as w:
        w.write(b"hello ")
        w.write(b"world")
    assert w.digest == Digest.of_bytes(b"hello world")
    assert store.has_blob(w.digest)
    with store.open_blob(w.digest, size=11) as f:
        assert f.read() == b"hello world"
    assert os.listdir(store.layout.tmp) == []


def test_ingest_verifies_digest_and_stores_nothing_on_mismatch(store: Store) -> None:
    wrong = Digest.of_bytes(b"something else")
    with pytest.raises(DigestMismatch, match="digest mismatch"):
        with store.ingest(wrong) as w:
            w.write(b"hello")
    assert not store.has_blob(wrong)
    assert not store.has_blob(Digest.of_bytes(b"hello"))
    assert os.listdir(store.layout.tmp) == []


def test_ingest_verifies_size(store: Store) -> None:
    d = Digest.of_bytes(b"abc")
    with pytest.raises(DigestMismatch, match="size mismatch"):
        with store.ingest(d, size=4) as w:
            w.write(b"abc")
    assert not store.has_blob(d)


def test_error_in_body_discards(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.ingest() as w:
            w.write(b"partial")
            raise RuntimeError("connection reset")
    assert list(store.blobs.digests()) == []
    assert os.listdir(store.layout.tmp) == []


def test_ingest_is_idempotent(store: Store) -> None:
    d = store.put_blob(b"config")
    with store.ingest(d, 6) as w:
        w.copy_from(io.BytesIO(b"config"))
    assert store.has_blob(d) and store.blobs.read(d) == b"config"


def test_open_blob_checks_size(store: Store) -> None:
    d = store.put_blob(b"12345")
    with pytest.raises(DigestMismatch, match="size mismatch"):
        store.open_blob(d, size=4)
    with pytest.raises(NotFound):
        store.open_blob(Digest.of_bytes(b"nope"))


def test_put_rejects_wrong_expected(store: Store) -> None:
    with pytest.raises(DigestMismatch):
        store.put_blob(b"a", Digest.of_bytes(b"b"))
