"""Registry settings, loopback detection, schemes, mirrors and offline mode (no DNS, ever)."""

from __future__ import annotations

import io
import json
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from sbx.oci.digest import Digest
from sbx.registry.client import RegistryClient
from sbx.registry.config import Mirror, RegistryConfig, is_loopback, normalize_host
from sbx.registry.errors import OfflineRefused, RegistryUnreachable

from .fake_registry import FakeRegistry

Make = Callable[..., RegistryClient]
MANIFEST = b'{"schemaVersion": 2}'


@pytest.mark.parametrize("host, expected", [
    ("localhost", True), ("localhost:5000", True), ("127.0.0.1", True), ("127.3.2.1:80", True),
    ("[::1]:5000", True), ("::1", True), ("registry-1.docker.io", False),
    ("127.0.0.1.nip.io", False), ("10.0.0.1:5000", False), ("[::2]", False),
])
def test_is_loopback(host: str, expected: bool) -> None:
    assert is_loopback(host) is expected


@pytest.mark.parametrize("text, expected", [
    ("https://index.docker.io/v1/", "docker.io"), ("registry-1.docker.io", "docker.io"),
    ("Reg.Example:5000/", "reg.example:5000"), ("http://127.0.0.1:5000", "127.0.0.1:5000"),
])
def test_normalize_host(text: str, expected: str) -> None:
    assert normalize_host(text) == expected


def test_from_env_reads_file_and_variables(tmp_path: Path) -> None:
    (tmp_path / "registries.json").write_text(json.dumps({
        "registry-mirrors": ["https://mirror.example"], "insecure-registries": ["lan:5000"]}))
    cfg = RegistryConfig.from_env({"SBX_CONFIG_DIR": str(tmp_path), "HOME": str(tmp_path),
                                   "SBX_REGISTRY_MIRRORS": "http://127.0.0.1:5001, mirror2.example",
                                   "SBX_INSECURE_REGISTRIES": "other.lan",
                                   "SBX_OFFLINE": "1"})
    assert cfg.mirrors == (Mirror("https", "mirror.example"), Mirror("http", "127.0.0.1:5001"),
                           Mirror("https", "mirror2.example"))
    assert cfg.insecure == {"lan:5000", "other.lan"}
    assert cfg.offline
    assert cfg.auth_file == tmp_path / "auth.json"
    assert cfg.docker_config == tmp_path / ".docker" / "config.json"
    assert not RegistryConfig.from_env({"HOME": str(tmp_path), "SBX_OFFLINE": "0"}).offline


def test_schemes_and_api_host() -> None:
    cfg = RegistryConfig(insecure=frozenset({"lan:5000"}))
    assert cfg.api_host("docker.io") == "registry-1.docker.io"
    assert cfg.api_host("ghcr.io") == "ghcr.io"
    assert cfg.schemes("127.0.0.1:5000") == ("http",)
    assert cfg.schemes("lan:5000") == ("https", "http")
    assert cfg.schemes("ghcr.io") == ("https",)


def test_bad_settings_file_is_a_clear_error(tmp_path: Path) -> None:
    from sbx.errors import InvalidArgument
    (tmp_path / "registries.json").write_text("{nope")
    with pytest.raises(InvalidArgument, match="registries.json are not valid JSON"):
        RegistryConfig.from_env({"SBX_CONFIG_DIR": str(tmp_path)})


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Fail the test if anything resolves or connects to a non-loopback name."""
    asked: list[str] = []
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.create_connection

    def getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
        asked.append(str(host))
        if not is_loopback(str(host)):
            pytest.fail(f"offline mode resolved {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def create_connection(address, *args, **kwargs):  # type: ignore[no-untyped-def]
        if not is_loopback(str(address[0])):
            pytest.fail(f"offline mode connected to {address!r}")
        return real_connect(address, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return asked


def test_offline_refuses_before_any_resolution(no_dns: list[str], tmp_path: Path) -> None:
    cfg = RegistryConfig(offline=True, auth_file=tmp_path / "a.json",
                         docker_config=tmp_path / "d.json",
                         mirrors=(Mirror("https", "mirror.example"),))
    client = RegistryClient("docker.io", config=cfg)  # a real requests session
    with pytest.raises(OfflineRefused) as e:
        client.get_manifest("library/redis", "latest")
    text = e.value.one_line()
    assert "docker.io/library/redis:latest: not found locally" in text
    assert "offline" in text and "sbx load" in text and "unset SBX_OFFLINE" in text
    for call in (lambda: client.fetch_blob("library/redis", Digest.of_bytes(b""), io.BytesIO()),
                 lambda: client.blob_exists("library/redis", Digest.of_bytes(b"")),
                 lambda: client.push_manifest("library/redis", "x", b"{}", "application/json"),
                 lambda: client.list_tags("library/redis"), client.ping):
        with pytest.raises(OfflineRefused):
            call()
    assert no_dns == []


def test_offline_still_allows_loopback(no_dns: list[str], tmp_path: Path) -> None:
    cfg = RegistryConfig(offline=True, retries=1, auth_file=tmp_path / "a.json",
                         docker_config=tmp_path / "d.json")
    import socket as s
    with s.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = RegistryClient(f"127.0.0.1:{port}", config=cfg)
    with pytest.raises(RegistryUnreachable, match=f"http://127.0.0.1:{port}/v2/.*refused"):
        client.ping()


def test_offline_redirect_to_outside_is_refused(make_client: Make) -> None:
    fake = FakeRegistry(host="127.0.0.1:5000")
    d = fake.add_blob("app", b"data")
    orig = fake.handle

    def handle(method, url, headers, body):  # type: ignore[no-untyped-def]
        if "/blobs/" in url:
            return 307, {"Location": f"https://cdn.example/{d}"}, b""
        return orig(method, url, headers, body)

    fake.handle = handle  # type: ignore[method-assign]
    client = make_client(fake, None, "cdn.example", offline=True)
    with pytest.raises(OfflineRefused, match="cdn.example"):
        client.fetch_blob("app", Digest.parse(d), io.BytesIO())
    assert not any("cdn.example" in s.url for s in fake.seen)


def test_mirror_first_then_origin(make_client: Make, config: RegistryConfig) -> None:
    fake = FakeRegistry(host="registry-1.docker.io")
    fake.add_manifest("library/redis", "7", MANIFEST)
    client = make_client(fake, "docker.io", "mirror.example",
                         mirrors=(Mirror("https", "mirror.example"),))
    # the mirror host is served by the same fake: it has the manifest, origin untouched
    assert client.get_manifest("library/redis", "7").body == MANIFEST
    assert [s.url.split("/")[2] for s in fake.seen] == ["mirror.example"]


def test_failing_mirror_falls_back_to_origin(make_client: Make) -> None:
    fake = FakeRegistry(host="registry-1.docker.io")
    fake.add_manifest("library/redis", "7", MANIFEST)
    orig = fake.handle

    def handle(method, url, headers, body):  # type: ignore[no-untyped-def]
        if "mirror.example" in url:
            return 404, {}, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}'
        return orig(method, url, headers, body)

    fake.handle = handle  # type: ignore[method-assign]
    client = make_client(fake, "docker.io", "mirror.example",
                         mirrors=(Mirror("https", "mirror.example"),))
    assert client.get_manifest("library/redis", "7").body == MANIFEST
    hosts = [s.url.split("/")[2] for s in fake.seen]
    assert hosts == ["mirror.example", "registry-1.docker.io"]


def test_mirrors_not_used_for_other_registries_or_push(make_client: Make) -> None:
    fake = FakeRegistry(host="registry-1.docker.io")
    client = make_client(fake, "docker.io", "mirror.example",
                         mirrors=(Mirror("https", "mirror.example"),))
    client.push_manifest("me/app", "v1", MANIFEST, "application/json")
    assert [s.url.split("/")[2] for s in fake.seen] == ["registry-1.docker.io"]


def test_insecure_registry_falls_back_to_http(make_client: Make) -> None:
    fake = FakeRegistry(host="lan:5000")
    fake.add_manifest("app", "v1", MANIFEST)
    orig = fake.handle
    seen_schemes: list[str] = []

    def handle(method, url, headers, body):  # type: ignore[no-untyped-def]
        seen_schemes.append(url.split(":")[0])
        return orig(method, url, headers, body)

    fake.handle = handle  # type: ignore[method-assign]
    client = make_client(fake, None, insecure=frozenset({"lan:5000"}), retries=1)
    adapter = client.conn.transport.session.get_adapter("https://lan:5000/")
    real_send = adapter.send

    def send(request, **kw):  # type: ignore[no-untyped-def]
        if request.url.startswith("https://"):
            import requests
            raise requests.exceptions.SSLError("wrong version number", request=request)
        return real_send(request, **kw)

    adapter.send = send  # type: ignore[method-assign]
    assert client.get_manifest("app", "v1").body == MANIFEST
    assert client.get_manifest("app", "v1").body == MANIFEST
    assert seen_schemes == ["http", "http"]  # https failed once, then http was remembered
