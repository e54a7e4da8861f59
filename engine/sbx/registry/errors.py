"""Registry failures as ``sbx.errors.RegistryError`` subclasses, and HTTP status -> error mapping.

Error bodies follow the Distribution spec (``{"errors": [{"code", "message", "detail"}]}``);
their ``code`` refines the message when present.
"""

from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from sbx.errors import DigestMismatch, RegistryError

if TYPE_CHECKING:
    import requests

OFFLINE_HINT = "unset SBX_OFFLINE to allow registry access, or load the image with sbx load"


class RegistryUnreachable(RegistryError):
    """The registry could not be reached (refused, timed out, TLS or DNS failure)."""


class OfflineRefused(RegistryUnreachable):
    """Offline mode forbids contacting a non-loopback registry."""


class Unauthorized(RegistryError):
    """401: no or wrong credentials."""


class Forbidden(RegistryError):
    """403: the credentials do not grant this operation."""


class RateLimited(RegistryError):
    """429: too many requests."""

    def __init__(self, message: str, *, retry_after: float | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class ManifestUnknown(RegistryError):
    """The tag or manifest digest does not exist in the repository."""


class BlobUnknown(RegistryError):
    """The blob does not exist in the repository."""


class NameUnknown(RegistryError):
    """The repository does not exist."""


class UnsupportedManifest(RegistryError):
    """A manifest sbx cannot use (schema 1, unknown media type, too large)."""


class RegistryDigestMismatch(RegistryError, DigestMismatch):
    """Content received from or acknowledged by a registry has another digest than expected."""


class ProtocolViolation(RegistryError):
    """The registry answered something the Distribution API does not allow."""


def _error_body(resp: requests.Response) -> tuple[str, str]:
    """(code, message) of the first error in a Distribution error body, or ('', '')."""
    try:
        data = json.loads(resp.content[:65536] or b"{}")
        first = data.get("errors", [])[0]
        return str(first.get("code", "")), str(first.get("message", ""))
    except (ValueError, AttributeError, IndexError, TypeError):
        return "", ""


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def error_for(resp: requests.Response, *, what: str, registry: str) -> RegistryError:
    """Turn a failed response into the matching error; ``what`` names the object asked for."""
    code, detail = _error_body(resp)
    status = resp.status_code
    url = (resp.request.url if resp.request is not None else None) or resp.url or ""
    said = f": {detail}" if detail and detail.lower() not in what.lower() else ""
    if status == 401:
        said = "" if detail.lower() in ("authentication required", "unauthorized") else said
        return Unauthorized(f"{what}: unauthorized: authentication required{said}",
                            hint=f"log in with `sbx login {registry}`")
    if status == 403:
        return Forbidden(f"{what}: denied: access forbidden{said}",
                         hint=f"the credentials for {registry} do not allow this; "
                              f"check the repository name or `sbx login {registry}` as another user")
    if status == 429:
        after = parse_retry_after(resp.headers.get("Retry-After"))
        wait = f"; retry after {after:.0f}s" if after is not None else ""
        return RateLimited(f"{what}: too many requests to {registry}{wait}", retry_after=after,
                           hint="the registry rate-limits pulls: wait, log in, or configure a "
                                "mirror (SBX_REGISTRY_MIRRORS)")
    if code in ("DIGEST_INVALID", "SIZE_INVALID"):
        return RegistryDigestMismatch(f"{what}: registry {registry} rejected the content: "
                                      f"{detail or code.lower()}",
                                      hint="the data does not match its digest or size")
    if status == 404 or code in ("MANIFEST_UNKNOWN", "BLOB_UNKNOWN", "NAME_UNKNOWN"):
        if code == "NAME_UNKNOWN":
            return NameUnknown(f"{what}: repository name not known to registry {registry}",
                               hint="check the repository name")
        if code == "BLOB_UNKNOWN" or "/blobs/" in url:
            return BlobUnknown(f"{what}: blob unknown to registry {registry}")
        return ManifestUnknown(f"{what}: manifest unknown",
                               hint="check the image name and tag, or build or load it locally")
    if status >= 500:
        return RegistryError(f"{what}: registry {registry} failed with HTTP {status}{said}",
                             hint="the registry has a problem; try again later")
    return RegistryError(f"{what}: registry {registry} answered HTTP {status}"
                         f"{' ' + code if code else ''}{said}")
