"""RegistryClient against the in-memory FakeRegistry: pulls, pushes, errors, retries, resume."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
from sbx.errors import DigestMismatch, RegistryError
from sbx.oci.digest import Digest
from sbx.registry.client import RegistryClient
from sbx.registry.errors import (
    BlobUnknown,
    Forbidden,
    ManifestUnknown,
    NameUnknown,
    RateLimited,
    RegistryDigestMismatch,
    RegistryUnreachable,
    UnsupportedManifest,
)
from sbx.registry.upload import PushResult

from .fake_registry import FakeRegistry, digest_of

Make = Callable[..., RegistryClient]
MANIFEST = json.dumps({"schemaVersion": 2,
                       "mediaType": "application/vnd.oci.image.manifest.v1+json"}).encode()


def test_get_manifest_by_tag_computes_digest(make_client: Make) -> None:
    fake = FakeRegistry()
    d = fake.add_manifest("app", "v1", MANIFEST)
    body, mt, dg = make_client(fake).get_manifest("app", "v1")
    assert (body, mt, str(dg)) == (MANIFEST, "application/vnd.oci.image.manifest.v1+json", d)
    accept = fake.seen[-1].headers["Accept"]
    assert "application/vnd.oci.image.index.v1+json" in accept


def test_get_manifest_by_digest_verifies(make_client: Make) -> None:
    fake = FakeRegistry()
    d = fake.add_manifest("app", "v1", MANIFEST)
    assert make_client(fake).get_manifest("app", d).digest == Digest.parse(d)
    fake.corrupt_blobs = True
    with pytest.raises(RegistryDigestMismatch, match="manifest digest mismatch"):
        make_client(fake).get_manifest("app", d)


def test_docker_content_digest_header_is_checked(make_client: Make) -> None:
    fake = FakeRegistry(wrong_digest_header=True)
    fake.add_manifest("app", "v1", MANIFEST)
    with pytest.raises(RegistryDigestMismatch, match="registry says"):
        make_client(fake).get_manifest("app", "v1")


def test_schema1_manifest_refused(make_client: Make) -> None:
    fake = FakeRegistry()
    fake.add_manifest("old", "v1", b'{"schemaVersion": 1, "name": "old"}', "application/json")
    with pytest.raises(UnsupportedManifest, match="schema 1") as e:
        make_client(fake).get_manifest("old", "v1")
    assert e.value.hint and "push the image again" in e.value.hint


def test_manifest_unknown_names_repo_and_tag(make_client: Make) -> None:
    fake = FakeRegistry()
    with pytest.raises(ManifestUnknown) as e:
        make_client(fake).get_manifest("team/app", "nope")
    assert "reg.example/team/app:nope: manifest unknown" in e.value.one_line()
    assert "Traceback" not in e.value.one_line()


def test_head_manifest(make_client: Make) -> None:
    fake = FakeRegistry()
    d = fake.add_manifest("app", "v1", MANIFEST)
    client = make_client(fake)
    head = client.head_manifest("app", "v1")
    assert head is not None and str(head.digest) == d and head.size == len(MANIFEST)
    assert client.head_manifest("app", "v2") is None


def test_forbidden_and_rate_limited(make_client: Make) -> None:
    fake = FakeRegistry(fail_statuses=[403])
    with pytest.raises(Forbidden, match="denied"):
        make_client(fake).get_manifest("app", "v1")
    fake = FakeRegistry(fail_statuses=[429], fail_headers={"Retry-After": "120"})
    with pytest.raises(RateLimited, match="retry after 120s") as e:
        make_client(fake).get_manifest("app", "v1")
    assert e.value.retry_after == 120
    assert e.value.hint and "mirror" in e.value.hint


def test_short_429_is_retried(make_client: Make, sleeps: list[float]) -> None:
    fake = FakeRegistry(fail_statuses=[429], fail_headers={"Retry-After": "1"})
    fake.add_manifest("app", "v1", MANIFEST)
    make_client(fake).get_manifest("app", "v1")
    assert sleeps == [1.0]


def test_5xx_retried_with_backoff_then_succeeds(make_client: Make, sleeps: list[float]) -> None:
    fake = FakeRegistry(fail_statuses=[503, 502])
    fake.add_manifest("app", "v1", MANIFEST)
    assert make_client(fake).get_manifest("app", "v1").body == MANIFEST
    assert sleeps == [0.01, 0.02]


def test_5xx_gives_up_after_bounded_attempts(make_client: Make, sleeps: list[float]) -> None:
    fake = FakeRegistry(fail_statuses=[503] * 10)
    with pytest.raises(RegistryError, match="failed with HTTP 503"):
        make_client(fake).get_manifest("app", "v1")
    assert len(sleeps) == 2 and fake.count("GET") == 3


def test_connection_refused_names_the_url(make_client: Make) -> None:
    fake = FakeRegistry(refuse_connections=10)
    with pytest.raises(RegistryUnreachable) as e:
        make_client(fake).get_manifest("app", "v1")
    msg = e.value.one_line()
    assert "https://reg.example/v2/app/manifests/v1" in msg and "connection refused" in msg


def test_dropped_connection_retried(make_client: Make) -> None:
    fake = FakeRegistry(refuse_connections=1)
    fake.add_manifest("app", "v1", MANIFEST)
    assert make_client(fake).get_manifest("app", "v1").body == MANIFEST


def test_list_tags_follows_pagination(make_client: Make) -> None:
    fake = FakeRegistry(page_size=2)
    for t in ("a", "b", "c", "d", "e"):
        fake.add_manifest("app", t, MANIFEST)
    assert make_client(fake).list_tags("app") == ["a", "b", "c", "d", "e"]
    assert fake.count("GET", "tags/list") == 3
    with pytest.raises(NameUnknown):
        make_client(fake).list_tags("other")


# -- blobs ------------------------------------------------------------------------------------
BLOB = bytes(range(256)) * 1000


def test_fetch_blob_streams_and_verifies(make_client: Make) -> None:
    fake = FakeRegistry()
    d = Digest.parse(fake.add_blob("app", BLOB))
    sink = io.BytesIO()
    calls: list[tuple[int, int | None]] = []
    n = make_client(fake).fetch_blob("app", d, sink, size=len(BLOB),
                                     progress=lambda a, b: calls.append((a, b)))
    assert n == len(BLOB) and sink.getvalue() == BLOB
    assert calls[-1] == (len(BLOB), len(BLOB))


def test_fetch_blob_digest_mismatch(make_client: Make) -> None:
    fake = FakeRegistry(corrupt_blobs=True)
    d = Digest.parse(fake.add_blob("app", BLOB))
    with pytest.raises(RegistryDigestMismatch, match="blob digest mismatch") as e:
        make_client(fake).fetch_blob("app", d, io.BytesIO())
    assert isinstance(e.value, DigestMismatch) and isinstance(e.value, RegistryError)


def test_fetch_blob_resumes_with_range(make_client: Make) -> None:
    fake = FakeRegistry(drop_blob_after=[100_000, 80_000])
    d = Digest.parse(fake.add_blob("app", BLOB))
    sink = io.BytesIO()
    make_client(fake).fetch_blob("app", d, sink)
    assert sink.getvalue() == BLOB
    ranges = [s.headers.get("Range") for s in fake.seen if "/blobs/" in s.url]
    # 64 KiB reads: the bytes of a partial read are lost with the connection, so the
    # resumes start at the last complete read (65536, then 131072)
    assert ranges == [None, "bytes=65536-", "bytes=131072-"]


def test_fetch_blob_resumes_when_range_ignored(make_client: Make) -> None:
    fake = FakeRegistry(drop_blob_after=[70_000], honor_range=False)
    d = Digest.parse(fake.add_blob("app", BLOB))
    sink = io.BytesIO()
    make_client(fake).fetch_blob("app", d, sink)
    assert sink.getvalue() == BLOB


def test_fetch_blob_gives_up_after_bounded_resumes(make_client: Make) -> None:
    fake = FakeRegistry(drop_blob_after=[10, 10, 10, 10, 10, 10])
    d = Digest.parse(fake.add_blob("app", BLOB))
    with pytest.raises(RegistryUnreachable, match="download failed after 0 bytes"):
        make_client(fake).fetch_blob("app", d, io.BytesIO())
    assert fake.count("GET", "/blobs/") == 4  # first try + 3 resumes without progress


def test_fetch_unknown_blob(make_client: Make) -> None:
    fake = FakeRegistry()
    with pytest.raises(BlobUnknown):
        make_client(fake).fetch_blob("app", Digest.of_bytes(b"x"), io.BytesIO())


def test_blob_exists(make_client: Make) -> None:
    fake = FakeRegistry()
    d = Digest.parse(fake.add_blob("app", b"hello"))
    client = make_client(fake)
    assert client.blob_exists("app", d)
    assert not client.blob_exists("app", Digest.of_bytes(b"nope"))


def test_push_blob_monolithic(make_client: Make) -> None:
    fake = FakeRegistry()
    d = Digest.of_bytes(BLOB)
    done: list[int] = []
    res = make_client(fake).push_blob("app", d, io.BytesIO(BLOB), len(BLOB),
                                      progress=lambda a, b: done.append(a))
    assert res is PushResult.UPLOADED and fake.blobs[str(d)] == BLOB
    assert fake.count("PATCH") == 0 and done[-1] == len(BLOB)
    assert make_client(fake).push_blob("app", d, io.BytesIO(BLOB), len(BLOB)) is PushResult.EXISTS


def test_push_blob_chunked(make_client: Make) -> None:
    fake = FakeRegistry()
    d = Digest.of_bytes(BLOB)
    client = make_client(fake, monolithic_limit=1000, chunk_size=100_000)
    assert client.push_blob("app", d, io.BytesIO(BLOB), len(BLOB)) is PushResult.UPLOADED
    assert fake.blobs[str(d)] == BLOB
    patches = [s.headers["Content-Range"] for s in fake.seen if s.method == "PATCH"]
    assert patches == ["0-99999", "100000-199999", "200000-255999"]


def test_push_blob_wrong_digest_rejected(make_client: Make) -> None:
    fake = FakeRegistry()
    with pytest.raises(RegistryDigestMismatch, match="rejected the content"):
        make_client(fake).push_blob("app", Digest.of_bytes(b"other"), io.BytesIO(b"data"), 4)


def test_push_blob_mounts_from_other_repo(make_client: Make) -> None:
    fake = FakeRegistry()
    d = Digest.parse(fake.add_blob("base", BLOB))
    res = make_client(fake).push_blob("app", d, io.BytesIO(BLOB), len(BLOB), mount_from="base")
    assert res is PushResult.MOUNTED
    assert fake.count("PUT") == 0 and str(d) in fake.repo_blobs["app"]


def test_push_blob_mount_falls_back_to_upload(make_client: Make) -> None:
    fake = FakeRegistry()
    d = Digest.of_bytes(BLOB)
    res = make_client(fake).push_blob("app", d, io.BytesIO(BLOB), len(BLOB), mount_from="base")
    assert res is PushResult.UPLOADED and fake.blobs[str(d)] == BLOB


def test_push_manifest(make_client: Make) -> None:
    fake = FakeRegistry()
    d = make_client(fake).push_manifest("app", "v1", MANIFEST,
                                        "application/vnd.oci.image.manifest.v1+json")
    assert str(d) == digest_of(MANIFEST)
    assert fake.manifests[("app", "v1")][1] == "application/vnd.oci.image.manifest.v1+json"


def test_redirect_drops_authorization_on_other_host(make_client: Make) -> None:
    fake = FakeRegistry(auth="basic", users={"u": "p"})
    d = fake.add_blob("app", BLOB)
    cdn = FakeRegistry(host="cdn.example")
    cdn.add_blob("app", BLOB)
    original = fake.handle

    def handle(method: str, url: str, headers: dict[str, str], body: bytes):  # type: ignore[no-untyped-def]
        if "cdn.example" in url:
            cdn.seen.append(type(fake.seen[0])(method, url, headers))
            return cdn.handle(method, url, headers, body)
        status, hdrs, payload = original(method, url, headers, body)
        if status == 200 and "/blobs/" in url and method == "GET":
            return 307, {"Location": f"https://cdn.example/v2/app/blobs/{d}"}, b""
        return status, hdrs, payload

    fake.handle = handle  # type: ignore[method-assign]
    from sbx.registry.credentials import Credentials
    client = make_client(fake, None, "cdn.example")
    client.conn._login = Credentials("u", "p")
    sink = io.BytesIO()
    client.fetch_blob("app", Digest.parse(d), sink)
    assert sink.getvalue() == BLOB
    assert "Authorization" not in cdn.seen[-1].headers
