"""``RegistryClient``: the Docker Registry HTTP API v2 for one registry domain.

Manifests come back as raw bytes with their media type and digest (callers parse them);
blobs stream into a caller-supplied sink and are verified here too.  Pulls of Docker Hub
images try the configured mirrors first, then the origin.  Spec:
https://distribution.github.io/distribution/spec/api/ and the OCI distribution spec.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import IO, NamedTuple, Protocol, TypeVar
from urllib.parse import urlencode, urljoin

import requests
import urllib3.exceptions

from sbx.errors import InvalidArgument, RegistryError
from sbx.oci import mediatypes
from sbx.oci.digest import Digest, Hasher
from sbx.registry.config import RegistryConfig
from sbx.registry.connection import Connection, Endpoint, pull_scope, push_scope
from sbx.registry.credentials import Credentials, CredentialStore
from sbx.registry.errors import (
    OfflineRefused,
    ProtocolViolation,
    RegistryDigestMismatch,
    RegistryUnreachable,
    UnsupportedManifest,
    error_for,
)
from sbx.registry.progress import ProgressCallback
from sbx.registry.upload import PushResult, upload_blob

log = logging.getLogger(__name__)

SCHEMA1 = mediatypes.SCHEMA1_TYPES
DEFAULT_ACCEPT = (mediatypes.OCI_INDEX, mediatypes.DOCKER_MANIFEST_LIST,
                  mediatypes.OCI_MANIFEST, mediatypes.DOCKER_MANIFEST)
MAX_RESUMES = 50
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
READ_CHUNK = 64 * 1024  # a dropped connection loses at most one partial chunk
_DROPPED = (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError,
            requests.exceptions.Timeout, urllib3.exceptions.ProtocolError,
            urllib3.exceptions.ReadTimeoutError)
T = TypeVar("T")


class BlobSink(Protocol):
    """Where blob bytes go: ``Store.ingest()``'s writer, an open file, a ``BytesIO``."""

    def write(self, data: bytes, /) -> object: ...


class ManifestBlob(NamedTuple):
    body: bytes
    media_type: str
    digest: Digest


class ManifestHead(NamedTuple):
    media_type: str
    digest: Digest | None
    size: int | None


def _is_digest(reference: str) -> bool:
    return ":" in reference


def _media_type(resp: requests.Response, body: bytes | None) -> str:
    mt = resp.headers.get("Content-Type", "").split(";", 1)[0].strip()
    if body is not None and mt in ("", "application/json", "text/plain",
                                   "application/octet-stream"):
        try:
            data = json.loads(body)
            mt = str(data.get("mediaType") or mt)
            if data.get("schemaVersion") == 1:
                mt = mediatypes.DOCKER_MANIFEST_V1
        except (ValueError, AttributeError):
            pass
    return mt


class RegistryClient:
    """Pull and push manifests and blobs, list tags, on one registry domain."""

    def __init__(self, domain: str, *, config: RegistryConfig,
                 session: requests.Session | None = None,
                 credentials: CredentialStore | None = None,
                 login: Credentials | None = None,
                 sleep: Callable[[float], None] | None = None) -> None:
        self.conn = Connection(domain, config, session=session, credentials=credentials,
                               login=login, sleep=sleep)
        self.config = config

    @classmethod
    def from_env(cls, domain: str, **kwargs: object) -> RegistryClient:
        return cls(domain, config=RegistryConfig.from_env(), **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        """Close pooled connections; the client must not be used afterwards."""
        self.conn.transport.session.close()

    def __enter__(self) -> RegistryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def domain(self) -> str:
        return self.conn.domain

    def _name(self, repo: str, reference: str = "") -> str:
        sep = "@" if _is_digest(reference) else ":"
        return f"{self.domain}/{repo}{sep + reference if reference else ''}"

    def _each_endpoint(self, eps: Sequence[Endpoint], op: Callable[[Endpoint], T]) -> T:
        """Run ``op`` on each endpoint in turn until one succeeds; the origin's error wins."""
        for i, ep in enumerate(eps):
            try:
                return op(ep)
            except OfflineRefused:
                raise
            except RegistryError as e:
                if i == len(eps) - 1:
                    raise
                log.info("mirror %s failed (%s); trying the next endpoint", ep, e.one_line())
        raise AssertionError("no endpoint")

    # -- API version check and login -------------------------------------------------
    def ping(self) -> None:
        """``GET /v2/`` with the auth flow: proves the registry answers and accepts us."""
        what = f"registry {self.domain}"
        ep = self.conn.endpoints(pull=False, what=what)[0]
        with self.conn.call(ep, "GET", "", scopes=(), what=what) as resp:
            if resp.status_code != 200:
                raise error_for(resp, what=what, registry=self.domain)

    # -- manifests ---------------------------------------------------------------------
    def get_manifest(self, repo: str, reference: str,
                     accept: Sequence[str] = DEFAULT_ACCEPT) -> ManifestBlob:
        """Fetch a manifest by tag or digest; verifies or computes its digest."""
        what = self._name(repo, reference)
        want = Digest.parse(reference) if _is_digest(reference) else None

        def op(ep: Endpoint) -> ManifestBlob:
            with self.conn.call(ep, "GET", f"{repo}/manifests/{reference}",
                                scopes=[pull_scope(repo)], what=what, stream=True,
                                headers={"Accept": ", ".join(accept)}) as resp:
                if resp.status_code != 200:
                    raise error_for(resp, what=what, registry=self.domain)
                body = self._read_limited(resp, what)
                return self._check_manifest(resp, body, want, what)

        return self._each_endpoint(self.conn.endpoints(pull=True, what=what), op)

    def _read_limited(self, resp: requests.Response, what: str) -> bytes:
        parts, n = [], 0
        try:
            for chunk in resp.iter_content(65536):
                n += len(chunk)
                if n > MAX_MANIFEST_BYTES:
                    raise UnsupportedManifest(f"{what}: manifest larger than "
                                              f"{MAX_MANIFEST_BYTES} bytes; refusing it")
                parts.append(chunk)
        except _DROPPED as e:
            raise RegistryUnreachable(f"{what}: connection dropped while reading the manifest "
                                      f"from {resp.url} ({e.__class__.__name__})") from None
        return b"".join(parts)

    def _check_manifest(self, resp: requests.Response, body: bytes, want: Digest | None,
                        what: str) -> ManifestBlob:
        mt = _media_type(resp, body)
        if mt in SCHEMA1:
            raise UnsupportedManifest(
                f"{what}: the registry serves a Docker image manifest v2 schema 1 ({mt}), "
                f"which is deprecated and not supported",
                hint="push the image again with a current tool (schema 2 or OCI)")
        got = Digest.of_bytes(body)
        if want is not None and got != want:
            raise RegistryDigestMismatch(f"{what}: manifest digest mismatch: got {got}",
                                         hint="the registry or a proxy altered the manifest")
        header = resp.headers.get("Docker-Content-Digest", "")
        if header.startswith("sha256:") and header != str(got):
            raise RegistryDigestMismatch(
                f"{what}: manifest digest mismatch: registry says {header}, content is {got}",
                hint="the registry or a proxy altered the manifest")
        return ManifestBlob(body, mt, got)

    def head_manifest(self, repo: str, reference: str,
                      accept: Sequence[str] = DEFAULT_ACCEPT) -> ManifestHead | None:
        """Media type, digest and size of a manifest without its body; None if unknown."""
        what = self._name(repo, reference)

        def op(ep: Endpoint) -> ManifestHead | None:
            with self.conn.call(ep, "HEAD", f"{repo}/manifests/{reference}",
                                scopes=[pull_scope(repo)], what=what,
                                headers={"Accept": ", ".join(accept)}) as resp:
                if resp.status_code == 404:
                    return None
                if resp.status_code != 200:
                    raise error_for(resp, what=what, registry=self.domain)
                mt = _media_type(resp, None)
                if mt in SCHEMA1:
                    raise UnsupportedManifest(f"{what}: schema 1 manifest ({mt}) not supported",
                                              hint="push the image again with a current tool")
                header = resp.headers.get("Docker-Content-Digest")
                dg = Digest.parse(header) if header else None
                length = resp.headers.get("Content-Length")
                return ManifestHead(mt, dg, int(length) if length and length.isdigit() else None)

        return self._each_endpoint(self.conn.endpoints(pull=True, what=what), op)

    def push_manifest(self, repo: str, tag: str, body: bytes, media_type: str) -> Digest:
        """PUT a manifest under ``tag`` (or its digest); returns its digest, checked."""
        what = self._name(repo, tag)
        if media_type in SCHEMA1:
            raise UnsupportedManifest(f"{what}: refusing to push a schema 1 manifest")
        got = Digest.of_bytes(body)
        if _is_digest(tag) and Digest.parse(tag) != got:
            raise InvalidArgument(f"{what}: the manifest's digest is {got}, not {tag}")
        ep = self.conn.endpoints(pull=False, what=what)[0]
        with self.conn.call(ep, "PUT", f"{repo}/manifests/{tag}", scopes=[push_scope(repo)],
                            what=what, body=body,
                            headers={"Content-Type": media_type}) as resp:
            if resp.status_code not in (200, 201):
                raise error_for(resp, what=what, registry=self.domain)
            header = resp.headers.get("Docker-Content-Digest", "")
        if header.startswith("sha256:") and header != str(got):
            raise RegistryDigestMismatch(f"{what}: registry stored the manifest as {header}, "
                                         f"expected {got}")
        return got

    def list_tags(self, repo: str) -> list[str]:
        """All tags of ``repo``, following ``Link: <...>; rel="next"`` pagination."""
        what = self._name(repo)
        ep = self.conn.endpoints(pull=False, what=what)[0]
        tags: list[str] = []
        path: str | None = f"{repo}/tags/list?" + urlencode({"n": 1000})
        pages = 0
        while path is not None and pages < 1000:
            pages += 1
            with self.conn.call(ep, "GET", path, scopes=[pull_scope(repo)], what=what) as resp:
                if resp.status_code != 200:
                    raise error_for(resp, what=what, registry=self.domain)
                try:
                    tags += list(json.loads(resp.content).get("tags") or [])
                except (ValueError, AttributeError, TypeError):
                    raise ProtocolViolation(f"{what}: tag list is not valid JSON") from None
                nxt = resp.links.get("next", {}).get("url")
                path = urljoin(resp.url, nxt) if nxt else None
        return tags

    # -- blobs ---------------------------------------------------------------------------
    def blob_exists(self, repo: str, digest: Digest, *, push: bool = False) -> bool:
        """HEAD the blob: True if the repository has it."""
        what = f"{self._name(repo)}@{digest}"
        scopes = [push_scope(repo) if push else pull_scope(repo)]
        ep = self.conn.endpoints(pull=not push, what=what)[-1]
        with self.conn.call(ep, "HEAD", f"{repo}/blobs/{digest}", scopes=scopes,
                            what=what) as resp:
            if resp.status_code == 200:
                return True
            if resp.status_code == 404:
                return False
            raise error_for(resp, what=what, registry=self.domain)

    def fetch_blob(self, repo: str, digest: Digest, sink: BlobSink, *, size: int | None = None,
                   progress: ProgressCallback | None = None) -> int:
        """Stream a blob into ``sink``, resuming with ``Range`` after drops; returns its size.

        The bytes are hashed on the way and checked against ``digest`` (and ``size``);
        a mismatch raises ``RegistryDigestMismatch`` after everything was written, so the
        sink must be one that discards unverified data (the store's ingest writer does).
        """
        what = f"{self._name(repo)}@{digest}"
        state = _Download(Hasher(), size)
        eps = self.conn.endpoints(pull=True, what=what)

        def op(ep: Endpoint) -> None:
            stalled = total = 0
            while True:
                before = state.hasher.size
                try:
                    self._download_once(ep, repo, digest, sink, state, progress, what)
                    return
                except OfflineRefused:
                    raise
                except RegistryUnreachable as e:
                    # bounded: consecutive drops without progress, and drops overall
                    stalled = 0 if state.hasher.size > before else stalled + 1
                    total += 1
                    if stalled > max(1, self.config.retries) or total > MAX_RESUMES:
                        raise RegistryUnreachable(
                            f"{what}: download failed after {state.hasher.size} bytes: "
                            f"{e.message}", hint=e.hint) from None
                    log.info("%s: %s; resuming at byte %d", what, e.message, state.hasher.size)
                    self.conn.transport.sleep(self.conn.transport.retry.delay(max(1, stalled)))

        self._each_endpoint(eps, op)
        got = state.hasher.digest()
        if got != digest:
            raise RegistryDigestMismatch(f"{what}: blob digest mismatch: got {got}",
                                         hint="the data was corrupted in transit; try again")
        if size is not None and state.hasher.size != size:
            raise RegistryDigestMismatch(f"{what}: blob size mismatch: expected {size} bytes, "
                                         f"got {state.hasher.size}")
        return state.hasher.size

    def _download_once(self, ep: Endpoint, repo: str, digest: Digest, sink: BlobSink,
                       state: _Download, progress: ProgressCallback | None, what: str) -> None:
        done = state.hasher.size
        if state.size is not None and done >= state.size:
            return
        headers = {"Range": f"bytes={done}-"} if done else {}
        with self.conn.call(ep, "GET", f"{repo}/blobs/{digest}", scopes=[pull_scope(repo)],
                            what=what, stream=True, headers=headers) as resp:
            if resp.status_code == 206:
                start = _range_start(resp.headers.get("Content-Range", ""))
                if start != done:
                    raise ProtocolViolation(f"{what}: asked for bytes from {done}, got a range "
                                            f"starting at {start}")
                skip = 0
            elif resp.status_code == 200:
                skip = done  # the server ignored Range: drop what we already have
            else:
                raise error_for(resp, what=what, registry=self.domain)
            if state.size is None and resp.status_code == 200:
                length = resp.headers.get("Content-Length", "")
                state.size = int(length) if length.isdigit() else None
            try:
                for chunk in _chunks(resp):
                    if skip:
                        if len(chunk) <= skip:
                            skip -= len(chunk)
                            continue
                        chunk, skip = chunk[skip:], 0
                    state.hasher.update(chunk)
                    sink.write(chunk)
                    if state.size is not None and state.hasher.size > state.size:
                        raise RegistryDigestMismatch(f"{what}: blob larger than the "
                                                     f"{state.size} bytes expected")
                    if progress is not None:
                        progress(state.hasher.size, state.size)
            except _DROPPED as e:
                raise RegistryUnreachable(f"connection dropped ({e.__class__.__name__})",
                                          hint="check the network") from None

    def push_blob(self, repo: str, digest: Digest, fileobj: IO[bytes], size: int, *,
                  mount_from: str | None = None,
                  progress: ProgressCallback | None = None) -> PushResult:
        """Upload a blob unless the repository has it; tries a cross-repository mount first.

        Blobs up to ``config.monolithic_limit`` bytes go in one PUT, larger ones in
        ``config.chunk_size`` PATCH chunks.  ``fileobj`` is read from its current position.
        """
        what = f"{self._name(repo)}@{digest}"
        ep = self.conn.endpoints(pull=False, what=what)[0]
        if self.blob_exists(repo, digest, push=True):
            return PushResult.EXISTS
        return upload_blob(self.conn, ep, repo, digest, fileobj, size, mount_from=mount_from,
                           progress=progress, what=what)


class _Download:
    def __init__(self, hasher: Hasher, size: int | None) -> None:
        self.hasher = hasher
        self.size = size


def _range_start(content_range: str) -> int | None:
    try:
        return int(content_range.split()[1].split("-", 1)[0])
    except (IndexError, ValueError):
        return None


def _chunks(resp: requests.Response) -> Iterator[bytes]:
    yield from resp.iter_content(READ_CHUNK)
