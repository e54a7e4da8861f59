"""Blob upload: cross-repository mount, monolithic PUT, or chunked PATCH then PUT.

The Distribution API's upload session: ``POST /v2/<repo>/blobs/uploads/`` (optionally
``?mount=<digest>&from=<repo>``: 201 means mounted, 202 means an upload session was
opened instead) answers with a ``Location``; then either one ``PUT <location>&digest=``
carrying the whole blob, or ``PATCH <location>`` per chunk with ``Content-Range`` (each
answer gives the next ``Location``) and a final empty ``PUT <location>&digest=``.
"""

from __future__ import annotations

import enum
from typing import IO

import requests

from sbx.oci.digest import Digest
from sbx.registry.connection import Connection, Endpoint, pull_scope, push_scope
from sbx.registry.errors import ProtocolViolation, RegistryDigestMismatch, error_for
from sbx.registry.progress import ProgressCallback


class PushResult(enum.Enum):
    EXISTS = "exists"
    MOUNTED = "mounted"
    UPLOADED = "uploaded"


class _CountingReader:
    """A read-only view of ``size`` bytes of a file that reports progress as it is read."""

    def __init__(self, f: IO[bytes], size: int, progress: ProgressCallback | None) -> None:
        self._f = f
        self._left = size
        self._size = size
        self._progress = progress

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n is None or n < 0 else min(n, self._left)
        data = self._f.read(n)
        self._left -= len(data)
        if self._progress is not None:
            self._progress(self._size - self._left, self._size)
        return data

    def __len__(self) -> int:
        return self._left

    def tell(self) -> int:
        return self._f.tell()

    def seek(self, pos: int) -> None:
        """Rewind (to replay the body after a 401); ``pos`` comes from :meth:`tell`."""
        self._left += self._f.tell() - pos
        self._f.seek(pos)


def _with_digest(location: str, digest: Digest) -> str:
    return location + ("&" if "?" in location else "?") + f"digest={digest}"


def _location(resp: requests.Response, what: str) -> str:
    loc = resp.headers.get("Location")
    if not loc:
        raise ProtocolViolation(f"{what}: upload answer without a Location header")
    return requests.compat.urljoin(resp.url, loc)


def upload_blob(conn: Connection, ep: Endpoint, repo: str, digest: Digest, fileobj: IO[bytes],
                size: int, *, mount_from: str | None, progress: ProgressCallback | None,
                what: str) -> PushResult:
    """Mount or upload one blob the repository lacks (see the module docstring)."""
    scopes = [push_scope(repo)]
    path = f"{repo}/blobs/uploads/"
    if mount_from and mount_from != repo:
        scopes.append(pull_scope(mount_from))
        path += "?" + requests.compat.urlencode({"mount": str(digest), "from": mount_from})
    with conn.call(ep, "POST", path, scopes=scopes, what=what) as resp:
        if resp.status_code == 201 and mount_from:
            return PushResult.MOUNTED
        if resp.status_code != 202:
            raise error_for(resp, what=what, registry=conn.domain)
        location = _location(resp, what)
    config = conn.config
    if size <= config.monolithic_limit:
        body = _CountingReader(fileobj, size, progress)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        final = conn.call(ep, "PUT", _with_digest(location, digest), scopes=scopes, what=what,
                          body=body, headers=headers)  # type: ignore[arg-type]
    else:
        offset = 0
        while offset < size:
            chunk = fileobj.read(min(config.chunk_size, size - offset))
            if not chunk:
                raise ProtocolViolation(f"{what}: the source ended at {offset} of {size} bytes")
            end = offset + len(chunk) - 1
            headers = {"Content-Type": "application/octet-stream",
                       "Content-Range": f"{offset}-{end}", "Content-Length": str(len(chunk))}
            with conn.call(ep, "PATCH", location, scopes=scopes, what=what, body=chunk,
                           headers=headers) as resp:
                if resp.status_code != 202:
                    raise error_for(resp, what=what, registry=conn.domain)
                got = resp.headers.get("Range", "")
                if got and got.rsplit("-", 1)[-1] != str(end):
                    raise ProtocolViolation(f"{what}: registry holds bytes {got}, "
                                            f"expected 0-{end}")
                location = _location(resp, what)
            offset = end + 1
            if progress is not None:
                progress(offset, size)
        final = conn.call(ep, "PUT", _with_digest(location, digest), scopes=scopes, what=what,
                          headers={"Content-Length": "0"})
    with final as resp:
        if resp.status_code not in (201, 204):
            raise error_for(resp, what=what, registry=conn.domain)
        header = resp.headers.get("Docker-Content-Digest", "")
    if header.startswith("sha256:") and header != str(digest):
        raise RegistryDigestMismatch(f"{what}: registry stored the blob as {header}")
    return PushResult.UPLOADED
