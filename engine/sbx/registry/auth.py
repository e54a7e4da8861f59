"""Registry authentication: ``WWW-Authenticate`` challenges, bearer tokens and basic auth.

The escalation ladder (Docker's, Charliecloud's): a request first goes out with whatever
the host asked for last time (nothing at first); a 401 carries a challenge and decides
the next rung:

* ``Bearer realm=...,service=...,scope=...`` -> GET the realm with ``service`` and every
  ``scope`` (basic credentials attached when known; with an identity token, the OAuth2
  refresh-token POST instead), then retry with ``Authorization: Bearer <token>``.  Tokens
  are cached per (realm, service, account) until ``expires_in`` runs out, and a token
  serves any request whose scopes it covers (a push token serves pulls too).
* ``Basic`` -> retry with the stored user and password; no credentials means a clear
  ``Unauthorized`` with the ``sbx login`` hint.

A second 401 with credentials that were just used is final.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

import requests

from sbx.registry.credentials import Credentials
from sbx.registry.errors import ProtocolViolation, Unauthorized, error_for
from sbx.registry.transport import Transport

log = logging.getLogger(__name__)

DEFAULT_TOKEN_LIFETIME = 60.0
EXPIRY_MARGIN = 5.0
_TOKEN = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)')
_PARAM = re.compile(r'\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


@dataclass(frozen=True)
class Challenge:
    """One ``WWW-Authenticate`` challenge: lowercase scheme plus its parameters."""

    scheme: str
    params: tuple[tuple[str, str], ...] = ()

    def get(self, key: str, default: str = "") -> str:
        return next((v for k, v in self.params if k == key), default)

    @classmethod
    def parse_all(cls, header: str) -> list[Challenge]:
        """Parse a header that may hold several challenges (RFC 7235 section 4.1)."""
        out: list[Challenge] = []
        pos, n = 0, len(header)
        while pos < n:
            while pos < n and header[pos] in ", \t":
                pos += 1
            m = _TOKEN.match(header, pos)
            if not m:
                break
            scheme, pos = m.group(1).lower(), m.end()
            params: list[tuple[str, str]] = []
            while True:
                p = _PARAM.match(header, pos)
                if not p:
                    break
                raw = p.group(2)
                value = re.sub(r"\\(.)", r"\1", raw) if raw is not None else p.group(3)
                params.append((p.group(1).lower(), value))
                pos = p.end()
                while pos < n and header[pos] in " \t":
                    pos += 1
                if pos < n and header[pos] == ",":
                    nxt = _PARAM.match(header, pos + 1)
                    if nxt:
                        pos += 1
                        continue
                break
            if not params:  # token68 form (``Basic abc==``): skip it
                while pos < n and header[pos] not in ",":
                    pos += 1
            out.append(cls(scheme, tuple(params)))
        return out


Grant = tuple[str, str, str]  # (resource type, name, action)


def parse_scopes(scopes: Sequence[str]) -> frozenset[Grant]:
    """``repository:a/b:pull,push`` -> {(repository, a/b, pull), (repository, a/b, push)}."""
    out: set[Grant] = set()
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        for action in actions.split(","):
            if action:
                out.add((kind, name, action))
    return frozenset(out)


def format_scopes(grants: frozenset[Grant]) -> tuple[str, ...]:
    """The inverse of :func:`parse_scopes`, one scope per resource, in a stable order."""
    merged: dict[tuple[str, str], set[str]] = {}
    for kind, name, action in grants:
        merged.setdefault((kind, name), set()).add(action)
    return tuple(f"{k}:{n}:{','.join(sorted(a))}" for (k, n), a in sorted(merged.items()))


@dataclass
class _Token:
    grants: frozenset[Grant]
    value: str
    expires: float


@dataclass
class TokenCache:
    """Bearer tokens per (realm, service, account); a token serves any subset of its scopes.

    Expired tokens are forgotten (with a safety margin of ``EXPIRY_MARGIN`` seconds).
    """

    clock: Callable[[], float] = time.monotonic
    _tokens: dict[tuple[str, str, str], list[_Token]] = field(default_factory=dict)

    def get(self, key: tuple[str, str, str], grants: frozenset[Grant]) -> str | None:
        now = self.clock()
        live = [t for t in self._tokens.get(key, []) if now < t.expires]
        self._tokens[key] = live
        return next((t.value for t in live if grants <= t.grants), None)

    def put(self, key: tuple[str, str, str], grants: frozenset[Grant], value: str,
            lifetime: float) -> None:
        margin = EXPIRY_MARGIN if lifetime > 2 * EXPIRY_MARGIN else 0.0
        kept = [t for t in self._tokens.get(key, []) if not t.grants <= grants]
        self._tokens[key] = [*kept, _Token(grants, value, self.clock() + lifetime - margin)]

    def drop(self, key: tuple[str, str, str], value: str) -> None:
        """Forget the token ``value`` (the registry refused it)."""
        self._tokens[key] = [t for t in self._tokens.get(key, []) if t.value != value]

    def __len__(self) -> int:
        now = self.clock()
        return sum(1 for ts in self._tokens.values() for t in ts if now < t.expires)


def _basic(creds: Credentials) -> str:
    raw = f"{creds.username}:{creds.password}".encode()
    return "Basic " + base64.b64encode(raw).decode()


class Authenticator:
    """Answers challenges for one client; remembers what each host asked for."""

    def __init__(self, transport: Transport,
                 credentials: Callable[[str], Credentials | None], *,
                 tokens: TokenCache | None = None) -> None:
        self.transport = transport
        self._credentials = credentials
        self.tokens = tokens if tokens is not None else TokenCache()
        self._challenges: dict[str, Challenge] = {}
        self._lock = threading.Lock()  # download threads share a client: one token fetch

    def known_challenge(self, host: str) -> Challenge | None:
        return self._challenges.get(host)

    def authorization(self, host: str, scopes: Sequence[str], *, registry: str,
                      what: str = "") -> str | None:
        """The header to send pre-emptively, from the challenge ``host`` gave before."""
        ch = self._challenges.get(host)
        if ch is None:
            return None
        with self._lock:
            return self._answer(host, ch, scopes, registry=registry, what=what)

    def on_unauthorized(self, host: str, resp: requests.Response, scopes: Sequence[str], *,
                        registry: str, what: str, sent: str | None = None) -> str:
        """Given a 401, return the header to retry with, or raise ``Unauthorized``.

        ``sent`` is the ``Authorization`` the refused request carried: a refused bearer
        token is dropped from the cache, while a token another thread fetched meanwhile is
        reused.
        """
        header = resp.headers.get("WWW-Authenticate", "")
        challenges = Challenge.parse_all(header)
        ch = next((c for c in challenges if c.scheme == "bearer"), None) or \
            next((c for c in challenges if c.scheme == "basic"), None)
        if ch is None:
            raise error_for(resp, what=what, registry=registry)
        self._challenges[host] = ch
        extra = [s for s in ch.get("scope").split() if s]
        with self._lock:
            return self._answer(host, ch, [*scopes, *extra], registry=registry, what=what,
                                refused=sent)

    def _answer(self, host: str, ch: Challenge, scopes: Sequence[str], *, registry: str,
                refused: str | None = None, what: str = "") -> str:
        creds = self._credentials(host)
        what = what or registry
        if ch.scheme == "basic":
            if creds is None or not creds.username:
                raise Unauthorized(f"{what}: unauthorized: the registry requires a user "
                                   f"name and password", hint=f"log in with `sbx login {registry}`")
            return _basic(creds)
        realm = ch.get("realm")
        if not realm:
            raise ProtocolViolation(f"{registry}: bearer challenge without a realm",
                                    hint="the registry's auth configuration is broken")
        service = ch.get("service")
        grants = parse_scopes(scopes)
        account = creds.username if creds else ""
        key = (realm, service, account)
        if refused and refused.startswith("Bearer "):
            self.tokens.drop(key, refused[len("Bearer "):])
        token = self.tokens.get(key, grants)
        if token is None:
            token, lifetime = self._fetch_token(realm, service, format_scopes(grants), creds,
                                                registry=registry, what=what)
            self.tokens.put(key, grants, token, lifetime)
        return "Bearer " + token

    def _fetch_token(self, realm: str, service: str, scopes: tuple[str, ...],
                     creds: Credentials | None, *, registry: str,
                     what: str) -> tuple[str, float]:
        if creds is not None and creds.identity_token:
            form = {"grant_type": "refresh_token", "refresh_token": creds.identity_token,
                    "client_id": "sbx", "service": service, "scope": " ".join(scopes)}
            resp = self.transport.request(
                "POST", realm, body=urlencode(form).encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"})
        else:
            query: list[tuple[str, str]] = []
            if service:
                query.append(("service", service))
            query += [("scope", s) for s in scopes]
            headers = {}
            if creds is not None and creds.username:
                query.append(("account", creds.username))
                headers["Authorization"] = _basic(creds)
            sep = "&" if "?" in realm else "?"
            url = realm + (sep + urlencode(query) if query else "")
            resp = self.transport.request("GET", url, headers=headers)
        with resp:
            if resp.status_code in (401, 403):
                if creds is not None:
                    raise Unauthorized(f"{what}: authentication failed: incorrect user name "
                                       f"or password (from {creds.source or 'login'})",
                                       hint=f"log in again with `sbx login {registry}`")
                raise Unauthorized(f"{what}: unauthorized: authentication required",
                                   hint=f"log in with `sbx login {registry}`")
            if resp.status_code != 200:
                raise error_for(resp, what=f"{what}: token from {realm}", registry=registry)
            try:
                data = json.loads(resp.content)
                token = data.get("token") or data.get("access_token")
                lifetime = float(data.get("expires_in") or DEFAULT_TOKEN_LIFETIME)
            except (ValueError, AttributeError, TypeError):
                token, lifetime = None, 0.0
        if not token or not isinstance(token, str):
            raise ProtocolViolation(f"{registry}: the token server {realm} returned no token")
        log.debug("got token for %s scopes=%s (%.0fs)", service, scopes, lifetime)
        return token, lifetime
