"""HTTP for registries: offline guard, bounded retries with backoff, redirects, clear failures.

No registry logic lives here.  Every request goes through :meth:`Transport.request`, which
refuses non-loopback hosts in offline mode *before* ``requests`` resolves a name or opens a
socket, follows redirects itself (so each hop is checked and ``Authorization`` is dropped
when the host changes) and turns connection failures into ``RegistryUnreachable`` naming
the URL.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO
from urllib.parse import urljoin, urlsplit

import requests

from sbx.registry.config import RegistryConfig, is_loopback
from sbx.registry.errors import OFFLINE_HINT, OfflineRefused, RegistryUnreachable, parse_retry_after

log = logging.getLogger(__name__)

Body = bytes | IO[bytes] | None
RETRY_STATUSES = frozenset({500, 502, 503, 504})
MAX_REDIRECTS = 10
USER_AGENT = "sbx/0.1 (pytest-sandbox)"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to retry 5xx answers and dropped connections."""

    attempts: int = 3
    backoff: float = 0.5
    max_delay: float = 8.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based): exponential, capped."""
        return float(min(self.max_delay, self.backoff * (2 ** (attempt - 1))))


def describe_failure(exc: BaseException) -> tuple[str, str]:
    """(kind, short reason) for a connection failure: refused, timeout, dns, tls or other."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, (ssl.SSLError, requests.exceptions.SSLError)):
            return "tls", f"TLS handshake failed ({cur.__class__.__name__})"
        if isinstance(cur, socket.gaierror):
            return "dns", "name resolution failed"
        if isinstance(cur, ConnectionRefusedError) or getattr(cur, "errno", None) == errno.ECONNREFUSED:
            return "refused", "connection refused"
        if isinstance(cur, (socket.timeout, TimeoutError, requests.exceptions.Timeout)):
            return "timeout", "timed out"
        if isinstance(cur, ConnectionResetError):
            return "reset", "connection reset"
        nxt = cur.__cause__ or cur.__context__
        if nxt is None and cur.args and isinstance(cur.args[0], BaseException):
            nxt = cur.args[0]
        if nxt is None:
            reason = getattr(cur, "reason", None)
            nxt = reason if isinstance(reason, BaseException) else None
        cur = nxt
    text = str(exc)
    if "Name or service not known" in text or "Failed to resolve" in text:
        return "dns", "name resolution failed"
    if "Connection refused" in text:
        return "refused", "connection refused"
    return "other", exc.__class__.__name__


class Transport:
    """A ``requests.Session`` behind the offline guard and the retry policy."""

    def __init__(self, config: RegistryConfig, session: requests.Session | None = None, *,
                 retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.config = config
        self.session = session if session is not None else requests.Session()
        self.retry = retry or RetryPolicy(config.retries, config.backoff)
        self.sleep = sleep

    def check_allowed(self, url: str) -> None:
        """Raise ``OfflineRefused`` if offline mode forbids ``url``; pure text check, no DNS."""
        host = urlsplit(url).netloc.rsplit("@", 1)[-1]
        if self.config.offline and not is_loopback(host):
            raise OfflineRefused(f"registry {host} not contacted: offline mode (SBX_OFFLINE) "
                                 f"allows loopback registries only", hint=OFFLINE_HINT)

    def request(self, method: str, url: str, *, headers: Mapping[str, str] | None = None,
                body: Body = None, stream: bool = False,
                timeout: float | None = None) -> requests.Response:
        """Send one request (retrying 5xx and dropped connections when safe to repeat).

        Raises ``OfflineRefused`` or ``RegistryUnreachable``; HTTP error statuses are
        returned, not raised, so callers can map them with context.
        """
        replayable = method != "PATCH" and (body is None or isinstance(body, bytes))
        attempts = max(1, self.retry.attempts) if replayable else 1
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self._send_following_redirects(method, url, headers or {}, body,
                                                      stream, timeout)
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                    requests.exceptions.ChunkedEncodingError) as e:
                kind, reason = describe_failure(e)
                final = attempt >= attempts or kind in ("dns", "tls")
                if final:
                    err = RegistryUnreachable(
                        f"registry unreachable: {method} {url}: {reason}",
                        hint="check that the registry is running and the address is right")
                    err.kind = kind  # type: ignore[attr-defined]
                    raise err from None
                log.debug("%s %s failed (%s), retry %d", method, url, reason, attempt)
                self.sleep(self.retry.delay(attempt))
                continue
            if attempt < attempts and self._should_retry(resp):
                wait = self.retry.delay(attempt)
                if resp.status_code == 429:
                    wait = max(wait, parse_retry_after(resp.headers.get("Retry-After")) or 0.0)
                log.debug("%s %s answered %d, retry %d in %.2fs", method, url,
                          resp.status_code, attempt, wait)
                resp.close()
                self.sleep(wait)
                continue
            return resp

    def _should_retry(self, resp: requests.Response) -> bool:
        if resp.status_code in RETRY_STATUSES:
            return True
        if resp.status_code == 429:
            after = parse_retry_after(resp.headers.get("Retry-After"))
            return after is not None and after <= self.retry.max_delay
        return False

    def _send_following_redirects(self, method: str, url: str, headers: Mapping[str, str],
                                  body: Body, stream: bool,
                                  timeout: float | None) -> requests.Response:
        t = timeout or self.config.timeout
        hdrs = {"User-Agent": USER_AGENT, **headers}
        origin = urlsplit(url).netloc
        for _ in range(MAX_REDIRECTS + 1):
            self.check_allowed(url)
            resp = self.session.request(method, url, headers=hdrs, data=body, stream=stream,
                                        timeout=(min(10.0, t), t), allow_redirects=False)
            location = resp.headers.get("Location")
            if resp.status_code not in (301, 302, 303, 307, 308) or not location:
                return resp
            resp.close()
            url = urljoin(url, location)
            if urlsplit(url).netloc != origin:
                hdrs = {k: v for k, v in hdrs.items() if k.lower() != "authorization"}
            if resp.status_code == 303 or (resp.status_code in (301, 302) and method == "POST"):
                method, body = "GET", None
        raise RegistryUnreachable(f"too many redirects for {url}")
