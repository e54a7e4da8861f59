"""Auth escalation (bearer, basic), token caching and expiry, credentials and login."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from sbx.registry.auth import Challenge, TokenCache, format_scopes, parse_scopes
from sbx.registry.client import RegistryClient
from sbx.registry.config import RegistryConfig
from sbx.registry.credentials import Credentials, CredentialStore
from sbx.registry.errors import Unauthorized
from sbx.registry.login import login, logout

from .fake_registry import FakeRegistry

Make = Callable[..., RegistryClient]
MANIFEST = b'{"schemaVersion": 2}'


def write_docker_config(config: RegistryConfig, data: dict[str, object]) -> None:
    assert config.docker_config is not None
    config.docker_config.parent.mkdir(parents=True, exist_ok=True)
    config.docker_config.write_text(json.dumps(data))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize("header, expected", [
    ('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
     'scope="repository:library/redis:pull"',
     [("bearer", {"realm": "https://auth.docker.io/token", "service": "registry.docker.io",
                  "scope": "repository:library/redis:pull"})]),
    ('Basic realm="Registry Realm"', [("basic", {"realm": "Registry Realm"})]),
    ('Basic realm="a, b", Bearer realm="https://x/t",service=svc',
     [("basic", {"realm": "a, b"}), ("bearer", {"realm": "https://x/t", "service": "svc"})]),
    ('Bearer realm="q\\"uoted"', [("bearer", {"realm": 'q"uoted'})]),
    ("", []),
])
def test_challenge_parse(header: str, expected: list[tuple[str, dict[str, str]]]) -> None:
    got = [(c.scheme, dict(c.params)) for c in Challenge.parse_all(header)]
    assert got == expected


def test_token_cache_expiry_and_coverage() -> None:
    now = [100.0]
    cache = TokenCache(clock=lambda: now[0])
    key = ("realm", "svc", "")
    push = parse_scopes(["repository:a:pull,push"])
    cache.put(key, push, "tok", 60)
    assert cache.get(key, parse_scopes(["repository:a:pull"])) == "tok"
    assert cache.get(key, push) == "tok"
    assert cache.get(key, parse_scopes(["repository:b:pull"])) is None
    now[0] += 54
    assert cache.get(key, push) == "tok"
    now[0] += 2  # within the 5 s safety margin of expiry
    assert cache.get(key, push) is None and len(cache) == 0


def test_scopes_merge_per_repository() -> None:
    grants = parse_scopes(["repository:a:pull", "repository:a:push,pull", "repository:b:pull"])
    assert format_scopes(grants) == ("repository:a:pull,push", "repository:b:pull")


def test_anonymous_bearer_token_is_fetched_once_and_cached(make_client: Make) -> None:
    fake = FakeRegistry(auth="bearer")
    fake.add_manifest("library/redis", "7", MANIFEST)
    client = make_client(fake)
    for _ in range(3):
        client.get_manifest("library/redis", "7")
    assert len(fake.token_requests) == 1
    q = fake.token_requests[0]
    assert q["service"] == ["reg.example"] and q["scope"] == ["repository:library/redis:pull"]
    # one 401, then the token is sent pre-emptively
    assert fake.count("GET", "/manifests/") == 4


def test_expired_token_is_refreshed(make_client: Make) -> None:
    fake = FakeRegistry(auth="bearer", token_lifetime=60)
    fake.add_manifest("app", "v1", MANIFEST)
    client = make_client(fake)
    now = [0.0]
    client.conn.auth.tokens.clock = lambda: now[0]
    client.get_manifest("app", "v1")
    now[0] = 30
    client.get_manifest("app", "v1")
    assert len(fake.token_requests) == 1
    now[0] = 100
    client.get_manifest("app", "v1")
    assert len(fake.token_requests) == 2


def test_bearer_with_credentials_sends_basic_to_realm(make_client: Make,
                                                      config: RegistryConfig) -> None:
    fake = FakeRegistry(auth="bearer", users={"alice": "s3cret"}, anonymous_pull=False)
    fake.add_manifest("private/app", "v1", MANIFEST)
    write_docker_config(config, {"auths": {"https://reg.example/v1/": {"auth": b64("alice:s3cret")}}})
    make_client(fake).get_manifest("private/app", "v1")
    assert fake.token_requests[0]["account"] == ["alice"]
    token_call = next(s for s in fake.seen if "auth.example" in s.url)
    assert token_call.headers["Authorization"] == "Basic " + b64("alice:s3cret")


def test_push_scope_requests_pull_and_push(make_client: Make, config: RegistryConfig) -> None:
    import io

    from sbx.oci.digest import Digest
    fake = FakeRegistry(auth="bearer", users={"alice": "pw"})
    fake.add_blob("base", b"layer")
    write_docker_config(config, {"auths": {"reg.example": {"auth": b64("alice:pw")}}})
    d = Digest.of_bytes(b"layer")
    make_client(fake).push_blob("app", d, io.BytesIO(b"layer"), 5, mount_from="base")
    scopes = {s for q in fake.token_requests for s in q.get("scope", [])}
    assert {"repository:app:pull,push", "repository:base:pull"} <= scopes
    assert str(d) in fake.repo_blobs["app"]


def test_401_without_credentials_says_how_to_log_in(make_client: Make) -> None:
    fake = FakeRegistry(auth="bearer", anonymous_pull=False)
    fake.add_manifest("app", "v1", MANIFEST)
    with pytest.raises(Unauthorized) as e:
        make_client(fake).get_manifest("app", "v1")
    assert "sbx login reg.example" in (e.value.hint or "")


def test_wrong_password_at_token_server(make_client: Make, config: RegistryConfig) -> None:
    fake = FakeRegistry(auth="bearer", users={"alice": "right"})
    write_docker_config(config, {"auths": {"reg.example": {"auth": b64("alice:wrong")}}})
    with pytest.raises(Unauthorized, match="incorrect user name or password"):
        make_client(fake).get_manifest("app", "v1")


def test_basic_auth(make_client: Make, config: RegistryConfig) -> None:
    fake = FakeRegistry(auth="basic", users={"bob": "pw"})
    fake.add_manifest("app", "v1", MANIFEST)
    with pytest.raises(Unauthorized, match="requires a user name and password"):
        make_client(fake).get_manifest("app", "v1")
    CredentialStore(config).save("reg.example", Credentials("bob", "pw"))
    client = make_client(fake)
    client.get_manifest("app", "v1")
    client.get_manifest("app", "v1")
    # the anonymous try above, one 401 for the new client, then basic pre-emptively
    assert fake.count("GET", "/manifests/") == 4
    CredentialStore(config).save("reg.example", Credentials("bob", "bad"))
    with pytest.raises(Unauthorized, match="refused the credentials"):
        make_client(fake).get_manifest("app", "v1")


def test_credential_helper_is_reported(config: RegistryConfig) -> None:
    write_docker_config(config, {"credsStore": "desktop"})
    assert "docker-credential-desktop" in (CredentialStore(config).helper_note("reg.example") or "")


def test_credentials_sources_and_priority(config: RegistryConfig) -> None:
    write_docker_config(config, {"auths": {
        "https://index.docker.io/v1/": {"auth": b64("hubuser:hubpw")},
        "ghcr.example": {"identitytoken": "refresh-me", "auth": b64("<token>:")},
        "reg.example:5000": {"auth": b64("docker:pw")}}})
    store = CredentialStore(config)
    hub = store.get("registry-1.docker.io")
    assert hub is not None and (hub.username, hub.password) == ("hubuser", "hubpw")
    ghcr = store.get("ghcr.example")
    assert ghcr is not None and ghcr.identity_token == "refresh-me"
    store.save("reg.example:5000", Credentials("mine", "pw2"))
    own = store.get("reg.example:5000")
    assert own is not None and own.username == "mine"
    assert config.auth_file is not None
    assert stat.S_IMODE(config.auth_file.stat().st_mode) == 0o600
    assert "pw2" not in repr(own)
    assert store.remove("reg.example:5000") and not store.remove("reg.example:5000")
    again = store.get("reg.example:5000")
    assert again is not None and again.username == "docker"


def test_identity_token_uses_oauth_refresh(make_client: Make, config: RegistryConfig) -> None:
    fake = FakeRegistry(auth="bearer")
    fake.add_manifest("app", "v1", MANIFEST)
    write_docker_config(config, {"auths": {"reg.example": {"identitytoken": "rt"}}})
    make_client(fake).get_manifest("app", "v1")
    post = next(s for s in fake.seen if "auth.example" in s.url)
    assert post.method == "POST"
    form = fake.token_requests[0]
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["rt"]
    assert form["scope"] == ["repository:app:pull"]


def test_login_verifies_before_saving(config: RegistryConfig) -> None:
    fake = FakeRegistry(auth="bearer", users={"alice": "pw"})
    with pytest.raises(Unauthorized):
        login("reg.example", "alice", "nope", config=config, session=fake.session())
    assert config.auth_file is not None and not config.auth_file.exists()
    path = login("reg.example", "alice", "pw", config=config, session=fake.session())
    assert path == config.auth_file
    saved = json.loads(Path(path).read_text())["auths"]["reg.example"]["auth"]
    assert base64.b64decode(saved) == b"alice:pw"
    assert logout("reg.example", config=config)
    assert not logout("reg.example", config=config)


def test_login_with_basic_registry(config: RegistryConfig) -> None:
    fake = FakeRegistry(auth="basic", users={"bob": "pw"})
    with pytest.raises(Unauthorized):
        login("reg.example", "bob", "bad", config=config, session=fake.session())
    login("reg.example", "bob", "pw", config=config, session=fake.session())
    assert CredentialStore(config).get("reg.example") is not None


def test_refused_token_is_dropped_and_refetched(make_client: Make) -> None:
    fake = FakeRegistry(auth="bearer")
    fake.add_manifest("app", "v1", MANIFEST)
    client = make_client(fake)
    client.get_manifest("app", "v1")
    fake._tokens.clear()  # the registry forgets (revokes) every token
    assert client.get_manifest("app", "v1").body == MANIFEST
    assert len(fake.token_requests) == 2
