"""Registry settings: mirrors, insecure hosts, offline mode and where credentials live.

Sources, later ones adding to earlier ones:

* ``<config dir>/registries.json`` where the config dir is ``$SBX_CONFIG_DIR``, else
  ``$XDG_CONFIG_HOME/sbx``, else ``~/.config/sbx``.  Shape (every key optional)::

      {"registry-mirrors": ["https://mirror.example.com"],
       "insecure-registries": ["registry.lan:5000"],
       "offline": false}

* ``SBX_REGISTRY_MIRRORS`` (comma separated), ``SBX_INSECURE_REGISTRIES`` (comma separated)
  and ``SBX_OFFLINE=1``.

Mirrors serve ``docker.io`` only, as Docker's ``registry-mirrors`` do.  Loopback hosts
(``localhost``, ``127.0.0.0/8``, ``::1``) are always plain http and always allowed, even
offline.  Credentials are read from ``$SBX_AUTH_FILE`` (default ``<config dir>/auth.json``,
written by ``sbx login``) and then ``$DOCKER_CONFIG/config.json`` (default
``~/.docker/config.json``).
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sbx.errors import InvalidArgument

DOCKER_HUB = "docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io",
                          "registry.hub.docker.com"})
_TRUE = frozenset({"1", "true", "yes", "on"})


def normalize_host(text: str) -> str:
    """``https://index.docker.io/v1/`` -> ``docker.io``; ``HOST:5000/`` -> ``host:5000``."""
    t = text.strip()
    if "://" in t:
        t = urlsplit(t).netloc
    t = t.split("/", 1)[0].lower()
    return DOCKER_HUB if t in _HUB_ALIASES else t


def host_without_port(host: str) -> str:
    """``127.0.0.1:5000`` -> ``127.0.0.1``; ``[::1]:5000`` -> ``::1``; ``localhost`` as is."""
    if host.startswith("["):
        return host[1:host.index("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IP literals, decided from the text alone (no DNS)."""
    name = host_without_port(host).lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def user_config_dir(environ: Mapping[str, str]) -> Path:
    if environ.get("SBX_CONFIG_DIR"):
        return Path(environ["SBX_CONFIG_DIR"])
    if environ.get("XDG_CONFIG_HOME"):
        return Path(environ["XDG_CONFIG_HOME"]) / "sbx"
    return Path(environ.get("HOME") or Path.home()) / ".config" / "sbx"


def _split_list(text: str | None) -> tuple[str, ...]:
    return tuple(p.strip() for p in (text or "").split(",") if p.strip())


@dataclass(frozen=True)
class Mirror:
    """A pull-through mirror of Docker Hub: ``scheme://host[:port]``."""

    scheme: str
    host: str

    @classmethod
    def parse(cls, text: str) -> Mirror:
        t = text.strip()
        if "://" not in t:
            t = "https://" + t
        parts = urlsplit(t)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidArgument(f"invalid registry mirror {text!r}",
                                  hint="write a mirror as https://host[:port]")
        return cls(parts.scheme, parts.netloc.lower())


@dataclass(frozen=True)
class RegistryConfig:
    """Everything the registry client needs to know besides the request itself."""

    mirrors: tuple[Mirror, ...] = ()
    insecure: frozenset[str] = frozenset()
    offline: bool = False
    auth_file: Path | None = None
    docker_config: Path | None = None
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    chunk_size: int = 8 * 1024 * 1024
    monolithic_limit: int = 32 * 1024 * 1024
    source: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RegistryConfig:
        """Read ``registries.json`` from the config dir, then the ``SBX_*`` variables."""
        env = os.environ if environ is None else environ
        cdir = user_config_dir(env)
        path = cdir / "registries.json"
        data = cls._read_file(path)
        mirrors = [Mirror.parse(m) for m in data.get("registry-mirrors", [])]
        mirrors += [Mirror.parse(m) for m in _split_list(env.get("SBX_REGISTRY_MIRRORS"))]
        insecure = {normalize_host(h) for h in data.get("insecure-registries", [])}
        insecure |= {normalize_host(h) for h in _split_list(env.get("SBX_INSECURE_REGISTRIES"))}
        offline = bool(data.get("offline", False))
        if "SBX_OFFLINE" in env:
            offline = env["SBX_OFFLINE"].strip().lower() in _TRUE
        home = Path(env.get("HOME") or Path.home())
        docker_dir = Path(env["DOCKER_CONFIG"]) if env.get("DOCKER_CONFIG") else home / ".docker"
        auth_file = Path(env["SBX_AUTH_FILE"]) if env.get("SBX_AUTH_FILE") else cdir / "auth.json"
        return cls(mirrors=tuple(dict.fromkeys(mirrors)), insecure=frozenset(insecure),
                   offline=offline, auth_file=auth_file,
                   docker_config=docker_dir / "config.json",
                   source=(str(path),) if data else ())

    @staticmethod
    def _read_file(path: Path) -> dict[str, Any]:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as e:
            raise InvalidArgument(f"cannot read registry settings {path}: {e.strerror}") from None
        try:
            data = json.loads(raw)
        except ValueError as e:
            raise InvalidArgument(f"registry settings {path} are not valid JSON: {e}",
                                  hint="fix or remove the file") from None
        if not isinstance(data, dict):
            raise InvalidArgument(f"registry settings {path} must hold a JSON object")
        return data

    def api_host(self, domain: str) -> str:
        """The host that serves the API: ``docker.io`` -> ``registry-1.docker.io``."""
        d = normalize_host(domain)
        return DOCKER_HUB_API_HOST if d == DOCKER_HUB else d

    def is_insecure(self, host: str) -> bool:
        h = normalize_host(host)
        return is_loopback(h) or h in self.insecure or host_without_port(h) in self.insecure

    def schemes(self, host: str) -> tuple[str, ...]:
        """Schemes to try in order: loopback http only; insecure https then http; else https."""
        if is_loopback(host):
            return ("http",)
        if self.is_insecure(host):
            return ("https", "http")
        return ("https",)
