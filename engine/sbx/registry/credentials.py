"""Registry credentials: sbx's own login file first, then Docker's ``config.json``.

Both files use Docker's shape: ``{"auths": {"<host>": {"auth": base64("user:pass")}}}``,
optionally with ``identitytoken``.  sbx writes only its own file (mode 0600, atomically);
Docker's file is read-only to sbx.  Docker credential helpers (``credsStore``,
``credHelpers``) are not run: a host that only they know gets a clear message instead.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sbx.atomic import write_bytes
from sbx.errors import InvalidArgument
from sbx.registry.config import RegistryConfig, normalize_host


@dataclass(frozen=True)
class Credentials:
    """A user name and password, or an OAuth2 identity (refresh) token."""

    username: str = ""
    password: str = ""
    identity_token: str = ""
    source: str = ""

    def __repr__(self) -> str:
        return f"Credentials(username={self.username!r}, source={self.source!r})"


def _read_auths(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise InvalidArgument(f"cannot read credentials file {path}: {e}",
                              hint="fix the file or remove it") from None
    return data if isinstance(data, dict) else {}


def _decode(entry: dict[str, Any], source: str) -> Credentials | None:
    token = str(entry.get("identitytoken") or "")
    user, password = str(entry.get("username") or ""), str(entry.get("password") or "")
    if entry.get("auth"):
        try:
            text = base64.b64decode(str(entry["auth"]), validate=False).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise InvalidArgument(f"credentials in {source} are not valid base64 user:password",
                                  hint="log in again") from None
        user, _, password = text.partition(":")
    if not (user or token):
        return None
    return Credentials(user, password, token, source)


class CredentialStore:
    """Look up, save and remove credentials per registry host (``docker.io`` for Hub)."""

    def __init__(self, config: RegistryConfig) -> None:
        self.auth_file = config.auth_file
        self.docker_config = config.docker_config

    def get(self, host: str) -> Credentials | None:
        """Credentials for ``host`` from sbx's file, then Docker's; None when neither has any."""
        want = normalize_host(host)
        for path in (self.auth_file, self.docker_config):
            for key, entry in _read_auths(path).get("auths", {}).items():
                if normalize_host(key) == want and isinstance(entry, dict):
                    creds = _decode(entry, str(path))
                    if creds is not None:
                        return creds
        return None

    def helper_note(self, host: str) -> str | None:
        """If only a Docker credential helper knows ``host``, a sentence saying so."""
        data = _read_auths(self.docker_config)
        want = normalize_host(host)
        helper = next((v for k, v in (data.get("credHelpers") or {}).items()
                       if normalize_host(k) == want), None) or data.get("credsStore")
        if helper:
            return (f"Docker keeps credentials for {want} in docker-credential-{helper}, "
                    f"which sbx does not run; use `sbx login {want}`")
        return None

    def save(self, host: str, creds: Credentials) -> Path:
        """Store ``creds`` for ``host`` in sbx's file (0600, atomic); returns the file."""
        path = self._own_file()
        data = _read_auths(path)
        auths = {k: v for k, v in data.get("auths", {}).items()
                 if normalize_host(k) != normalize_host(host)}
        entry: dict[str, str] = {}
        if creds.username:
            raw = f"{creds.username}:{creds.password}".encode()
            entry["auth"] = base64.b64encode(raw).decode()
        if creds.identity_token:
            entry["identitytoken"] = creds.identity_token
        auths[normalize_host(host)] = entry
        data["auths"] = auths
        self._write(path, data)
        return path

    def remove(self, host: str) -> bool:
        """Forget ``host`` in sbx's file; True if there was something to forget."""
        path = self._own_file()
        data = _read_auths(path)
        auths = data.get("auths", {})
        keep = {k: v for k, v in auths.items() if normalize_host(k) != normalize_host(host)}
        if len(keep) == len(auths):
            return False
        data["auths"] = keep
        self._write(path, data)
        return True

    def _own_file(self) -> Path:
        if self.auth_file is None:
            raise InvalidArgument("no credentials file configured",
                                  hint="set SBX_AUTH_FILE or SBX_CONFIG_DIR")
        return self.auth_file

    @staticmethod
    def _write(path: Path, data: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_bytes(path, json.dumps(data, indent=1, sort_keys=True).encode() + b"\n",
                    mode=0o600, fsync=True)
        os.chmod(path, 0o600)
