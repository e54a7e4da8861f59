"""RegistryClient against a real Debian ``docker-registry`` on 127.0.0.1.

No root needed, so these are not marked ``integration``; they skip when the binary is
missing, except in CI (``CI=true``), where a missing binary is a failure.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sbx.oci import mediatypes
from sbx.oci.digest import Digest
from sbx.registry import (
    PushResult,
    RegistryClient,
    RegistryConfig,
    TerminalProgress,
    login,
    logout,
)
from sbx.registry.credentials import CredentialStore
from sbx.registry.errors import BlobUnknown, ManifestUnknown, RegistryDigestMismatch, Unauthorized

from tests.needs import need
from tests.registry_server import RegistryServer, TokenKeys, registry_binary, start_registry

USERS = {"alice": "wonderland"}


@pytest.fixture(scope="module", autouse=True)
def _need_registry() -> None:
    need("docker-registry", registry_binary())


def _serve(tmp: pytest.TempPathFactory, auth: str | None,
           keys: TokenKeys | None = None) -> Iterator[RegistryServer]:
    server = start_registry(tmp.mktemp(f"registry-{auth or 'plain'}"), auth=auth, users=USERS,
                            token_keys=keys)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    yield from _serve(tmp_path_factory, None)


@pytest.fixture(scope="module")
def basic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    yield from _serve(tmp_path_factory, "htpasswd")


@pytest.fixture(scope="module")
def token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    yield from _serve(tmp_path_factory, "token")


@pytest.fixture
def config(tmp_path: Path) -> RegistryConfig:
    # offline on purpose: loopback registries stay reachable in offline mode
    return RegistryConfig(offline=True, auth_file=tmp_path / "sbx" / "auth.json",
                          docker_config=tmp_path / "docker" / "config.json",
                          retries=2, backoff=0.01)


def _image(seed: str) -> tuple[bytes, bytes, bytes]:
    """(layer, config, manifest) of a small valid OCI image."""
    layer = gzip.compress(seed.encode() * 1000, mtime=0)
    cfg = json.dumps({"architecture": "amd64", "os": "linux",
                      "rootfs": {"type": "layers", "diff_ids": [
                          str(Digest.of_bytes(seed.encode() * 1000))]},
                      "config": {"Cmd": ["/bin/sh"]}}).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST,
        "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": str(Digest.of_bytes(cfg)),
                   "size": len(cfg)},
        "layers": [{"mediaType": mediatypes.OCI_LAYER_GZIP,
                    "digest": str(Digest.of_bytes(layer)), "size": len(layer)}]}).encode()
    return layer, cfg, manifest


def _push_image(client: RegistryClient, repo: str, tag: str, seed: str) -> Digest:
    layer, cfg, manifest = _image(seed)
    for blob in (layer, cfg):
        client.push_blob(repo, Digest.of_bytes(blob), io.BytesIO(blob), len(blob))
    return client.push_manifest(repo, tag, manifest, mediatypes.OCI_MANIFEST)


def test_push_and_pull_roundtrip(plain: RegistryServer, config: RegistryConfig) -> None:
    client = RegistryClient(plain.host, config=config)
    client.ping()
    layer, cfg, manifest = _image("roundtrip")
    ld = Digest.of_bytes(layer)
    assert not client.blob_exists("test/app", ld)
    assert client.push_blob("test/app", ld, io.BytesIO(layer), len(layer)) is PushResult.UPLOADED
    assert client.push_blob("test/app", ld, io.BytesIO(layer), len(layer)) is PushResult.EXISTS
    client.push_blob("test/app", Digest.of_bytes(cfg), io.BytesIO(cfg), len(cfg))
    md = client.push_manifest("test/app", "v1", manifest, mediatypes.OCI_MANIFEST)
    assert md == Digest.of_bytes(manifest)

    for ref in ("v1", str(md)):
        body, mt, dg = client.get_manifest("test/app", ref)
        assert (body, mt, dg) == (manifest, mediatypes.OCI_MANIFEST, md)
    head = client.head_manifest("test/app", "v1")
    assert head is not None and head.digest == md and head.size == len(manifest)

    out = io.StringIO()
    progress = TerminalProgress(out)
    sink = io.BytesIO()
    n = client.fetch_blob("test/app", ld, sink, size=len(layer), progress=progress.callback(ld))
    assert n == len(layer) and sink.getvalue() == layer
    assert out.getvalue() == f"{ld.short}: Downloading\n"
    assert client.list_tags("test/app") == ["v1"]


def test_chunked_upload(plain: RegistryServer, config: RegistryConfig) -> None:
    from dataclasses import replace
    client = RegistryClient(plain.host, config=replace(config, monolithic_limit=10_000,
                                                       chunk_size=64 * 1024))
    data = os.urandom(300_000)
    d = Digest.of_bytes(data)
    assert client.push_blob("test/chunked", d, io.BytesIO(data), len(data)) is PushResult.UPLOADED
    sink = io.BytesIO()
    client.fetch_blob("test/chunked", d, sink)
    assert sink.getvalue() == data


def test_wrong_digest_upload_rejected(plain: RegistryServer, config: RegistryConfig) -> None:
    client = RegistryClient(plain.host, config=config)
    with pytest.raises(RegistryDigestMismatch):
        client.push_blob("test/bad", Digest.of_bytes(b"other"), io.BytesIO(b"data"), 4)


def test_cross_repository_mount(plain: RegistryServer, config: RegistryConfig) -> None:
    client = RegistryClient(plain.host, config=config)
    data = os.urandom(5000)
    d = Digest.of_bytes(data)
    client.push_blob("test/base", d, io.BytesIO(data), len(data))
    res = client.push_blob("test/derived", d, io.BytesIO(data), len(data), mount_from="test/base")
    assert res is PushResult.MOUNTED
    assert client.blob_exists("test/derived", d)


def test_not_found_errors(plain: RegistryServer, config: RegistryConfig) -> None:
    client = RegistryClient(plain.host, config=config)
    _push_image(client, "test/nf", "v1", "nf")
    with pytest.raises(ManifestUnknown) as e:
        client.get_manifest("test/nf", "missing")
    assert f"{plain.host}/test/nf:missing: manifest unknown" in e.value.one_line()
    assert client.head_manifest("test/nf", "missing") is None
    with pytest.raises(BlobUnknown):
        client.fetch_blob("test/nf", Digest.of_bytes(b"never pushed"), io.BytesIO())


def test_one_client_shared_by_download_threads(token: RegistryServer,
                                               config: RegistryConfig) -> None:
    from concurrent.futures import ThreadPoolExecutor
    assert token.token_server is not None
    login(token.host, "alice", "wonderland", config=config)
    blobs = [os.urandom(200_000 + i) for i in range(6)]
    with RegistryClient(token.host, config=config) as client:
        for b in blobs:
            client.push_blob("test/threads", Digest.of_bytes(b), io.BytesIO(b), len(b))
    before = len(token.token_server.requests_seen)
    with RegistryClient(token.host, config=config) as client:
        def fetch(b: bytes) -> bytes:
            sink = io.BytesIO()
            client.fetch_blob("test/threads", Digest.of_bytes(b), sink, size=len(b))
            return sink.getvalue()

        with ThreadPoolExecutor(4) as pool:
            assert list(pool.map(fetch, blobs)) == blobs
    assert len(token.token_server.requests_seen) - before == 1  # one token, shared


def test_basic_auth_login_logout(basic: RegistryServer, config: RegistryConfig) -> None:
    anon = RegistryClient(basic.host, config=config)
    with pytest.raises(Unauthorized) as e:
        anon.get_manifest("test/private", "v1")
    assert f"sbx login {basic.host}" in (e.value.hint or "")
    with pytest.raises(Unauthorized):
        login(basic.host, "alice", "wrong", config=config)
    assert config.auth_file is not None and not config.auth_file.exists()
    path = login(basic.host, "alice", "wonderland", config=config)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    client = RegistryClient(basic.host, config=config)
    md = _push_image(client, "test/private", "v1", "basic")
    assert client.get_manifest("test/private", "v1").digest == md
    assert logout(basic.host, config=config)
    with pytest.raises(Unauthorized):
        RegistryClient(basic.host, config=config).get_manifest("test/private", "v1")


def test_token_auth(token: RegistryServer, config: RegistryConfig) -> None:
    assert token.token_server is not None
    with pytest.raises(Unauthorized) as e:
        RegistryClient(token.host, config=config).get_manifest("test/tok", "v1")
    assert f"sbx login {token.host}" in (e.value.hint or "")
    with pytest.raises(Unauthorized, match="incorrect user name or password"):
        login(token.host, "alice", "wrong", config=config)
    login(token.host, "alice", "wonderland", config=config)
    assert CredentialStore(config).get(token.host) is not None

    client = RegistryClient(token.host, config=config)
    seen = token.token_server.requests_seen
    before = len(seen)
    md = _push_image(client, "test/tok", "v1", "token")
    layer, _, _ = _image("token")
    sink = io.BytesIO()
    client.fetch_blob("test/tok", Digest.of_bytes(layer), sink)
    assert client.get_manifest("test/tok", "v1").digest == md
    assert sink.getvalue() == layer
    # one token for everything: the push token (pull,push) also serves the pulls
    scopes = [q.get("scope", []) for q in seen[before:]]
    assert scopes == [["repository:test/tok:pull,push"]]

    # a mount needs pull on the source too: the client asks for both scopes
    res = client.push_blob("test/tok2", Digest.of_bytes(layer), io.BytesIO(layer), len(layer),
                           mount_from="test/tok")
    assert res is PushResult.MOUNTED
    assert logout(token.host, config=config)


class _CuttingProxy:
    """A loopback TCP proxy that cuts its first connection after ``limit`` response bytes."""

    def __init__(self, upstream: str, limit: int) -> None:
        import socket
        import threading
        self.upstream = upstream.rsplit(":", 1)
        self.limit = limit
        self.requests: list[bytes] = []
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self._threads: list[threading.Thread] = []
        self._stop = False
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()
        self._threads.append(t)

    def _accept(self) -> None:
        import socket
        import threading
        first = True
        while not self._stop:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            up = socket.create_connection((self.upstream[0], int(self.upstream[1])))
            limit = self.limit if first else None
            first = False
            for src, dst, lim in ((client, up, None), (up, client, limit)):
                t = threading.Thread(target=self._pipe, args=(src, dst, lim, src is client),
                                     daemon=True)
                t.start()
                self._threads.append(t)

    def _pipe(self, src: object, dst: object, limit: int | None, is_request: bool) -> None:
        import socket
        assert isinstance(src, socket.socket) and isinstance(dst, socket.socket)
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if is_request:
                    self.requests.append(data)
                if limit is not None and sent + len(data) >= limit:
                    dst.sendall(data[:limit - sent])
                    self.cuts += 1
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._stop = True
        self.listener.close()


def test_fetch_blob_resumes_with_range_on_real_registry(plain: RegistryServer,
                                                        config: RegistryConfig) -> None:
    data = os.urandom(1_000_000)
    d = Digest.of_bytes(data)
    RegistryClient(plain.host, config=config).push_blob("test/resume", d, io.BytesIO(data),
                                                        len(data))
    proxy = _CuttingProxy(plain.host, limit=300_000)
    try:
        sink = io.BytesIO()
        with RegistryClient(proxy.host, config=config) as client:
            assert client.fetch_blob("test/resume", d, sink, size=len(data)) == len(data)
    finally:
        proxy.close()
    assert sink.getvalue() == data
    assert proxy.cuts == 1
    assert any(b"Range: bytes=" in r for r in proxy.requests)
