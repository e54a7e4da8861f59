"""Where and how to talk to one registry: endpoints (mirrors, origin), scheme choice and auth.

:class:`Connection` sends one API request to one endpoint: it picks the scheme (http for
loopback; https then http for insecure hosts, remembered once one answers), attaches the
``Authorization`` the host asked for before, and on a 401 climbs the auth ladder once and
retries.  Which endpoints to try (mirrors first for Docker Hub pulls) is decided here too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, cast
from urllib.parse import urljoin

import requests

from sbx.registry.auth import Authenticator
from sbx.registry.config import DOCKER_HUB, RegistryConfig, is_loopback, normalize_host
from sbx.registry.credentials import Credentials, CredentialStore
from sbx.registry.errors import (
    OFFLINE_HINT,
    OfflineRefused,
    RegistryUnreachable,
    Unauthorized,
    error_for,
)
from sbx.registry.transport import Body, Transport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    """One host serving the registry API, and whether it is a mirror of the origin."""

    host: str
    schemes: tuple[str, ...]
    mirror: bool = False

    def __str__(self) -> str:
        return f"{self.schemes[0]}://{self.host}"


def pull_scope(repo: str) -> str:
    return f"repository:{repo}:pull"


def push_scope(repo: str) -> str:
    return f"repository:{repo}:pull,push"


class Connection:
    """API requests to the endpoints of one registry domain (``docker.io``, ``host:5000``)."""

    def __init__(self, domain: str, config: RegistryConfig, *,
                 session: requests.Session | None = None,
                 credentials: CredentialStore | None = None,
                 login: Credentials | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.domain = normalize_host(domain)
        self.config = config
        self.transport = Transport(config, session, sleep=sleep or time.sleep)
        self.credentials = credentials if credentials is not None else CredentialStore(config)
        self._login = login
        self.auth = Authenticator(self.transport, self._credentials_for)
        self._scheme: dict[str, str] = {}
        origin_host = config.api_host(self.domain)
        self.origin = Endpoint(origin_host, config.schemes(origin_host))

    def _credentials_for(self, host: str) -> Credentials | None:
        if self._login is not None:
            return self._login
        return self.credentials.get(host)

    def endpoints(self, *, pull: bool, what: str) -> list[Endpoint]:
        """Mirrors (Docker Hub pulls only) then the origin, minus what offline mode forbids."""
        eps: list[Endpoint] = []
        if pull and self.domain == DOCKER_HUB:
            eps += [Endpoint(m.host, ("http",) if is_loopback(m.host) else (m.scheme,), True)
                    for m in self.config.mirrors]
        eps.append(self.origin)
        if self.config.offline:
            eps = [e for e in eps if is_loopback(e.host)]
            if not eps:
                raise OfflineRefused(
                    f"{what}: not found locally and offline mode (SBX_OFFLINE) forbids "
                    f"contacting registry {self.origin.host}", hint=OFFLINE_HINT)
        return eps

    def base(self, ep: Endpoint) -> str:
        return f"{self._scheme.get(ep.host, ep.schemes[0])}://{ep.host}/v2/"

    def call(self, ep: Endpoint, method: str, path: str, *, scopes: Sequence[str], what: str,
             headers: Mapping[str, str] | None = None, body: Body = None,
             stream: bool = False) -> requests.Response:
        """Send ``method`` to ``path`` (relative to ``/v2/``, or an absolute URL) with auth.

        Returns the response whatever its status, except 401s, which are answered once and
        then raised as ``Unauthorized``.
        """
        hdrs = dict(headers or {})
        authz = self.auth.authorization(ep.host, scopes, registry=self.domain, what=what)
        if authz:
            hdrs["Authorization"] = authz
        start = _tell(body)
        resp = self._send(ep, method, path, hdrs, body, stream)
        if resp.status_code != 401:
            return resp
        resp.content  # noqa: B018 - drain so the connection can be reused
        resp.close()
        new = self.auth.on_unauthorized(ep.host, resp, scopes, registry=self.domain, what=what,
                                        sent=authz)
        hdrs["Authorization"] = new
        _rewind(body, start)
        resp2 = self._send(ep, method, path, hdrs, body, stream)
        if resp2.status_code == 401:
            err = error_for(resp2, what=what, registry=self.domain)
            resp2.close()
            note = self.credentials.helper_note(ep.host) if self._login is None else None
            creds = self._credentials_for(ep.host)
            if creds is not None and isinstance(err, Unauthorized):
                err = Unauthorized(f"{what}: unauthorized: the registry refused the credentials "
                                   f"from {creds.source or 'login'}",
                                   hint=f"log in again with `sbx login {self.domain}`")
            elif note:
                err.hint = note
            raise err
        return resp2

    def _send(self, ep: Endpoint, method: str, path: str, headers: Mapping[str, str],
              body: Body, stream: bool) -> requests.Response:
        pinned = self._scheme.get(ep.host)
        schemes = (pinned,) if pinned else ep.schemes
        start = _tell(body)
        last: RegistryUnreachable | None = None
        for scheme in schemes:
            base = f"{scheme}://{ep.host}/v2/"
            url = path if "://" in path else urljoin(base, path)
            try:
                resp = self.transport.request(method, url, headers=headers, body=body,
                                              stream=stream)
            except OfflineRefused:
                raise
            except RegistryUnreachable as e:
                last = e
                log.debug("%s unreachable over %s: %s", ep.host, scheme, e.message)
                _rewind(body, start)
                continue
            self._scheme.setdefault(ep.host, scheme)
            return resp
        assert last is not None
        raise last


def _tell(body: Body) -> int | None:
    if body is None or isinstance(body, bytes):
        return None
    try:
        return cast(IO[bytes], body).tell()
    except (OSError, AttributeError, ValueError):
        return None


def _rewind(body: Body, pos: int | None) -> None:
    if pos is not None and body is not None and not isinstance(body, bytes):
        cast(IO[bytes], body).seek(pos)
