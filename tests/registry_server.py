"""Test helper: run Debian's ``docker-registry`` on 127.0.0.1 (plain, htpasswd or token auth).

``start_registry(workdir, auth=...)`` writes a config with filesystem storage under
``workdir``, starts ``docker-registry serve`` on a free loopback port and waits until
``/v2/`` answers.  For ``auth="token"`` it also starts :class:`TokenServer`, a small
Python token service that signs RS256 JWTs with ``openssl`` (key and self-signed cert
made with ``openssl req``); the registry trusts that cert through ``rootcertbundle``.
Everything started here is stopped by pid in :meth:`RegistryServer.stop`.
"""

from __future__ import annotations

import base64
import ctypes
import ctypes.util
import json
import os
import secrets
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import requests

REGISTRY_BIN = "docker-registry"
SERVICE = "sbx-test-registry"
ISSUER = "sbx-test-issuer"


def registry_binary() -> str | None:
    return shutil.which(REGISTRY_BIN)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bcrypt_hash(password: str) -> str:
    """A ``$2b$`` bcrypt hash through libcrypt (as htpasswd -B would make)."""
    alphabet = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    salt = "$2b$05$" + "".join(secrets.choice(alphabet) for _ in range(21)) + "."
    name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
    lib = ctypes.CDLL(name, use_errno=True)
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    out = lib.crypt(password.encode(), salt.encode())
    if not out or not out.startswith(b"$2"):
        raise RuntimeError("libcrypt cannot make bcrypt hashes")
    return out.decode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenKeys:
    key: Path
    cert: Path

    @classmethod
    def generate(cls, directory: Path) -> TokenKeys:
        key, cert = directory / "token.key", directory / "token.crt"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", str(key), "-out", str(cert), "-days", "2",
                        "-subj", "/CN=sbx-test-token"], check=True, capture_output=True)
        return cls(key, cert)

    def x5c(self) -> str:
        pem = self.cert.read_text()
        body = pem.split("-----BEGIN CERTIFICATE-----")[1].split("-----END CERTIFICATE-----")[0]
        return "".join(body.split())

    def sign(self, claims: dict[str, object]) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c()]}
        signing = (_b64url(json.dumps(header).encode()) + "."
                   + _b64url(json.dumps(claims).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.key)],
                             input=signing.encode(), check=True, capture_output=True).stdout
        return signing + "." + _b64url(sig)


@dataclass
class TokenServer:
    """Issues registry tokens: users get every action they ask for, anonymous nothing."""

    keys: TokenKeys
    users: dict[str, str]
    lifetime: int = 300
    requests_seen: list[dict[str, list[str]]] = field(default_factory=list)
    _httpd: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/token"

    def start(self) -> TokenServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                query = parse_qs(urlsplit(self.path).query)
                server.requests_seen.append(query)
                user = server.check_basic(self.headers.get("Authorization", ""))
                if user is False:
                    self.send_response(401)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"details":"incorrect username or password"}')
                    return
                access = []
                if user:
                    for scope in query.get("scope", []):
                        for one in scope.split():
                            kind, name, actions = one.split(":", 2) if one.count(":") >= 2 \
                                else (one, "", "")
                            access.append({"type": kind, "name": name,
                                           "actions": actions.split(",")})
                now = int(time.time())
                token = server.keys.sign({
                    "iss": ISSUER, "sub": user or "", "aud": SERVICE, "exp": now + server.lifetime,
                    "nbf": now - 10, "iat": now, "jti": secrets.token_hex(8), "access": access})
                body = json.dumps({"token": token, "expires_in": server.lifetime}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def check_basic(self, header: str) -> str | bool:
        """'' for anonymous, the user name when right, False when wrong."""
        if not header:
            return ""
        if not header.startswith("Basic "):
            return False
        user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        return user if self.users.get(user) == pw else False

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


@dataclass
class RegistryServer:
    host: str
    proc: subprocess.Popen[bytes]
    workdir: Path
    log: Path
    token_server: TokenServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, 9)
                self.proc.wait(10)
        if self.token_server is not None:
            self.token_server.stop()


def start_registry(workdir: Path, *, auth: str | None = None,
                   users: dict[str, str] | None = None,
                   token_keys: TokenKeys | None = None) -> RegistryServer:
    """Start ``docker-registry`` on 127.0.0.1; ``auth`` is None, "htpasswd" or "token"."""
    binary = registry_binary()
    if binary is None:
        raise RuntimeError("docker-registry is not installed (apt-get install docker-registry)")
    users = users or {}
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    lines = ["version: 0.1", "log:", "  level: warn", "storage:", "  filesystem:",
             f"    rootdirectory: {workdir / 'data'}", "  delete:", "    enabled: true",
             "http:", f"  addr: 127.0.0.1:{port}"]
    token_server = None
    if auth == "htpasswd":
        pw = workdir / "htpasswd"
        pw.write_text("".join(f"{u}:{bcrypt_hash(p)}\n" for u, p in users.items()))
        lines += ["auth:", "  htpasswd:", "    realm: sbx-test", f"    path: {pw}"]
    elif auth == "token":
        keys = token_keys or TokenKeys.generate(workdir)
        token_server = TokenServer(keys, users).start()
        lines += ["auth:", "  token:", f"    realm: {token_server.url}", f"    service: {SERVICE}",
                  f"    issuer: {ISSUER}", f"    rootcertbundle: {keys.cert}"]
    elif auth is not None:
        raise ValueError(f"unknown auth {auth!r}")
    config = workdir / "config.yml"
    config.write_text("\n".join(lines) + "\n")
    log = workdir / "registry.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([binary, "serve", str(config)], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    server = RegistryServer(f"127.0.0.1:{port}", proc, workdir, log, token_server)
    deadline = time.monotonic() + 15
    while True:
        try:
            r = requests.get(f"{server.url}/v2/", timeout=1)
            if r.status_code in (200, 401):
                return server
        except requests.ConnectionError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"docker-registry did not start: {log.read_text()[-2000:]}")
        time.sleep(0.05)
