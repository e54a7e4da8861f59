"""An in-memory Distribution API registry mounted into ``requests`` as a transport adapter.

It implements the subset the client uses (manifests, blobs with Range, uploads with
mount/monolithic/chunked, tags with pagination), issues ``WWW-Authenticate`` challenges
(none, basic or bearer with a token endpoint) and can inject failures: 5xx answers,
refused connections, blob bodies that drop after N bytes, Range ignored, corrupted
content.  Every request is recorded for assertions.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class _DroppingBody(io.RawIOBase):
    """A body that breaks with ECONNRESET after ``limit`` bytes, like a dropped socket."""

    def __init__(self, data: bytes, limit: int) -> None:
        self._data, self._pos, self._limit = data, 0, limit

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        if self._pos >= len(self._data):
            return 0
        if self._pos >= self._limit:
            raise ConnectionResetError(104, "Connection reset by peer")
        n = min(len(b), self._limit - self._pos, len(self._data) - self._pos)
        b[:n] = self._data[self._pos:self._pos + n]
        self._pos += n
        return n


@dataclass
class Seen:
    method: str
    url: str
    headers: dict[str, str]


@dataclass
class FakeRegistry:
    host: str = "reg.example"
    auth: str = "none"  # none | basic | bearer
    users: dict[str, str] = field(default_factory=dict)
    anonymous_pull: bool = True
    token_host: str = "auth.example"
    token_lifetime: int = 300
    honor_range: bool = True
    blobs: dict[str, bytes] = field(default_factory=dict)
    repo_blobs: dict[str, set[str]] = field(default_factory=dict)
    manifests: dict[tuple[str, str], tuple[bytes, str]] = field(default_factory=dict)
    fail_statuses: list[int] = field(default_factory=list)
    fail_headers: dict[str, str] = field(default_factory=dict)
    refuse_connections: int = 0
    drop_blob_after: list[int] = field(default_factory=list)
    corrupt_blobs: bool = False
    wrong_digest_header: bool = False
    page_size: int = 0
    seen: list[Seen] = field(default_factory=list)
    token_requests: list[dict[str, list[str]]] = field(default_factory=list)
    _tokens: dict[str, set[str]] = field(default_factory=dict)
    _uploads: dict[str, bytearray] = field(default_factory=dict)

    # -- setup helpers ----------------------------------------------------------------
    def add_blob(self, repo: str, data: bytes) -> str:
        d = digest_of(data)
        self.blobs[d] = data
        self.repo_blobs.setdefault(repo, set()).add(d)
        return d

    def add_manifest(self, repo: str, tag: str, body: bytes,
                     media_type: str = "application/vnd.oci.image.manifest.v1+json") -> str:
        d = digest_of(body)
        self.manifests[(repo, tag)] = (body, media_type)
        self.manifests[(repo, d)] = (body, media_type)
        return d

    def session(self, *hosts: str) -> requests.Session:
        s = requests.Session()
        s.trust_env = False
        adapter = _Adapter(self)
        for h in (self.host, self.token_host, *hosts):
            s.mount(f"https://{h}/", adapter)
            s.mount(f"http://{h}/", adapter)
        return s

    def count(self, method: str, fragment: str = "") -> int:
        return sum(1 for s in self.seen if s.method == method and fragment in s.url)

    # -- auth ----------------------------------------------------------------------------
    def _challenge(self, scope: str) -> dict[str, str]:
        if self.auth == "basic":
            return {"WWW-Authenticate": 'Basic realm="fake"'}
        extra = f',scope="{scope}"' if scope else ""
        return {"WWW-Authenticate": f'Bearer realm="https://{self.token_host}/token",'
                                    f'service="{self.host}"{extra}'}

    def _user(self, header: str) -> str | None | bool:
        if not header.startswith("Basic "):
            return None
        user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        return user if self.users.get(user) == pw else False

    def _allowed(self, headers: dict[str, str], need: str) -> bool:
        authz = headers.get("Authorization", "")
        if self.auth == "none":
            return True
        if self.auth == "basic":
            return bool(self._user(authz))
        if not authz.startswith("Bearer "):
            return False
        return need in self._tokens.get(authz[7:], set()) or not need

    def _token(self, url: str, headers: dict[str, str],
               body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        q = parse_qs(urlsplit(url).query) if not body else parse_qs(body.decode())
        self.token_requests.append(q)
        user = self._user(headers.get("Authorization", ""))
        if q.get("grant_type") == ["refresh_token"]:  # OAuth2: scopes space-separated
            user = "oauth-user" if q.get("refresh_token") == ["rt"] else False
            q = {**q, "scope": " ".join(q.get("scope", [])).split()}
        if user is False:
            return 401, {}, b'{"details":"bad credentials"}'
        granted: set[str] = set()
        for scope in q.get("scope", []):
            _, name, actions = scope.split(":", 2)
            for a in actions.split(","):
                if user or (self.anonymous_pull and a == "pull"):
                    granted.add(f"{name}:{a}")
        tok = secrets.token_hex(8)
        self._tokens[tok] = granted | {""}
        body = json.dumps({"token": tok, "expires_in": self.token_lifetime}).encode()
        return 200, {"Content-Type": "application/json"}, body

    # -- the API ---------------------------------------------------------------------------
    def handle(self, method: str, url: str, headers: dict[str, str],
               body: bytes) -> tuple[int, dict[str, str], bytes | _DroppingBody]:
        parts = urlsplit(url)
        if parts.netloc == self.token_host:
            return self._token(url, headers, body)
        if self.fail_statuses:
            return self.fail_statuses.pop(0), dict(self.fail_headers), b""
        path, q = parts.path, parse_qs(parts.query)
        if path == "/v2/":
            if not self._allowed(headers, ""):
                return 401, self._challenge(""), b""
            return 200, {}, b"{}"
        m = re.match(r"^/v2/(.+)/(manifests|blobs|tags)/(.*)$", path)
        if not m:
            return 404, {}, b""
        repo, kind, rest = m.groups()
        need = "push" if method in ("PUT", "POST", "PATCH") else "pull"
        if not self._allowed(headers, f"{repo}:{need}"):
            scope = f"repository:{repo}:{'pull,push' if need == 'push' else 'pull'}"
            return 401, self._challenge(scope), b'{"errors":[{"code":"UNAUTHORIZED"}]}'
        if kind == "manifests":
            return self._manifests(method, repo, rest, headers, body)
        if kind == "tags":
            return self._tags(repo, q)
        if rest.startswith("uploads/"):
            return self._uploads_call(method, repo, rest[len("uploads/"):], q, headers, body)
        return self._blob(method, repo, rest, headers)

    def _manifests(self, method: str, repo: str, ref: str, headers: dict[str, str],
                   body: bytes) -> tuple[int, dict[str, str], bytes]:
        if method == "PUT":
            d = self.add_manifest(repo, ref, body, headers.get("Content-Type", ""))
            return 201, {"Docker-Content-Digest": d, "Location": f"/v2/{repo}/manifests/{d}"}, b""
        if (repo, ref) not in self.manifests:
            return 404, {}, b'{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}'
        data, mt = self.manifests[(repo, ref)]
        d = digest_of(data)
        if self.wrong_digest_header:
            d = digest_of(data + b"x")
        if self.corrupt_blobs:
            data = data.replace(b"}", b" }", 1)
        hdrs = {"Content-Type": mt, "Docker-Content-Digest": d, "Content-Length": str(len(data))}
        return 200, hdrs, b"" if method == "HEAD" else data

    def _tags(self, repo: str, q: dict[str, list[str]]) -> tuple[int, dict[str, str], bytes]:
        tags = sorted({t for (r, t) in self.manifests if r == repo and ":" not in t})
        if not tags:
            return 404, {}, b'{"errors":[{"code":"NAME_UNKNOWN"}]}'
        last = q.get("last", [""])[0]
        tags = [t for t in tags if t > last]
        hdrs: dict[str, str] = {"Content-Type": "application/json"}
        if self.page_size and len(tags) > self.page_size:
            tags = tags[:self.page_size]
            hdrs["Link"] = f'</v2/{repo}/tags/list?n={self.page_size}&last={tags[-1]}>; rel="next"'
        return 200, hdrs, json.dumps({"name": repo, "tags": tags}).encode()

    def _blob(self, method: str, repo: str, digest: str,
              headers: dict[str, str]) -> tuple[int, dict[str, str], bytes | _DroppingBody]:
        if digest not in self.repo_blobs.get(repo, set()):
            return 404, {}, b'{"errors":[{"code":"BLOB_UNKNOWN"}]}'
        data = self.blobs[digest]
        if self.corrupt_blobs:
            data = bytes([data[0] ^ 1]) + data[1:]
        start = 0
        rng = headers.get("Range", "")
        status = 200
        if rng and self.honor_range:
            start = int(rng.split("=")[1].split("-")[0])
            status = 206
        part = data[start:]
        hdrs = {"Content-Length": str(len(part)), "Docker-Content-Digest": digest,
                "Accept-Ranges": "bytes"}
        if status == 206:
            hdrs["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        if method == "HEAD":
            return status, hdrs, b""
        if self.drop_blob_after:
            return status, hdrs, _DroppingBody(part, self.drop_blob_after.pop(0))
        return status, hdrs, part

    def _uploads_call(self, method: str, repo: str, uid: str, q: dict[str, list[str]],
                      headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        if method == "POST":
            mount, src = q.get("mount", [""])[0], q.get("from", [""])[0]
            if mount and mount in self.repo_blobs.get(src, set()) and \
                    self._allowed(headers, f"{src}:pull"):
                self.repo_blobs.setdefault(repo, set()).add(mount)
                return 201, {"Location": f"/v2/{repo}/blobs/{mount}",
                             "Docker-Content-Digest": mount}, b""
            new = secrets.token_hex(4)
            self._uploads[new] = bytearray()
            return 202, {"Location": f"/v2/{repo}/blobs/uploads/{new}?_state=x",
                         "Range": "0-0"}, b""
        buf = self._uploads.get(uid)
        if buf is None:
            return 404, {}, b'{"errors":[{"code":"BLOB_UPLOAD_UNKNOWN"}]}'
        if method == "PATCH":
            cr = headers.get("Content-Range")
            if cr and int(cr.split("-")[0]) != len(buf):
                return 416, {}, b""
            buf += body
            return 202, {"Location": f"/v2/{repo}/blobs/uploads/{uid}?_state=y",
                         "Range": f"0-{len(buf) - 1}"}, b""
        if method == "PUT":
            buf += body
            want = q.get("digest", [""])[0]
            if digest_of(bytes(buf)) != want:
                return 400, {}, b'{"errors":[{"code":"DIGEST_INVALID","message":"digest mismatch"}]}'
            del self._uploads[uid]
            self.add_blob(repo, bytes(buf))
            return 201, {"Docker-Content-Digest": want, "Location": f"/v2/{repo}/blobs/{want}"}, b""
        return 405, {}, b""


class _Adapter(HTTPAdapter):
    def __init__(self, registry: FakeRegistry) -> None:
        super().__init__()
        self.registry = registry

    def send(self, request: requests.PreparedRequest, stream: bool = False, timeout: object = None,
             verify: object = True, cert: object = None,
             proxies: object = None) -> requests.Response:
        reg = self.registry
        headers = dict(request.headers)
        reg.seen.append(Seen(request.method or "", request.url or "", headers))
        if reg.refuse_connections:
            reg.refuse_connections -= 1
            raise requests.exceptions.ConnectionError(
                urllib3.exceptions.NewConnectionError(None, "[Errno 111] Connection refused"),  # type: ignore[arg-type]
                request=request)
        body = request.body
        if body is None:
            raw = b""
        elif isinstance(body, bytes):
            raw = body
        elif isinstance(body, str):
            raw = body.encode()
        else:
            raw = b"".join(iter(lambda: body.read(65536), b""))  # type: ignore[union-attr]
        status, hdrs, payload = reg.handle(request.method or "", request.url or "", headers, raw)
        if request.method == "HEAD":
            payload = b""
        fp = payload if isinstance(payload, _DroppingBody) else io.BytesIO(payload)
        resp = urllib3.HTTPResponse(body=fp, headers=hdrs, status=status, preload_content=False,
                                    decode_content=False, request_method=request.method,
                                    enforce_content_length=True)
        return self.build_response(request, resp)
