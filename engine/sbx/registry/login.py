"""``sbx login`` / ``sbx logout``: verify credentials against a registry, then store them."""

from __future__ import annotations

from pathlib import Path

import requests

from sbx.errors import InvalidArgument
from sbx.registry.client import RegistryClient
from sbx.registry.config import RegistryConfig, normalize_host
from sbx.registry.credentials import Credentials, CredentialStore


def login(domain: str, username: str, password: str, *, config: RegistryConfig,
          session: requests.Session | None = None) -> Path:
    """Check ``username``/``password`` with ``GET /v2/`` and the auth flow, then save them.

    Returns the credentials file written.  Raises ``Unauthorized`` (nothing saved) when the
    registry refuses them.
    """
    if not username:
        raise InvalidArgument("login: a user name is required")
    if not password:
        raise InvalidArgument("login: a password is required",
                              hint="pass it with --password-stdin")
    creds = Credentials(username, password, source="login")
    client = RegistryClient(domain, config=config, session=session, login=creds)
    client.ping()
    return CredentialStore(config).save(normalize_host(domain), creds)


def logout(domain: str, *, config: RegistryConfig) -> bool:
    """Forget sbx's credentials for ``domain``; False when sbx had none for it."""
    return CredentialStore(config).remove(normalize_host(domain))
