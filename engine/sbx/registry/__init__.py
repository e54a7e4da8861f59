"""Docker Registry HTTP API v2 client: manifests, blobs, tags, auth, mirrors, offline mode."""

from sbx.registry.client import (
    DEFAULT_ACCEPT,
    BlobSink,
    ManifestBlob,
    ManifestHead,
    RegistryClient,
)
from sbx.registry.config import RegistryConfig
from sbx.registry.credentials import Credentials, CredentialStore
from sbx.registry.login import login, logout
from sbx.registry.progress import ProgressCallback, TerminalProgress
from sbx.registry.upload import PushResult

__all__ = [
    "DEFAULT_ACCEPT", "BlobSink", "CredentialStore", "Credentials", "ManifestBlob",
    "ManifestHead", "ProgressCallback", "PushResult", "RegistryClient", "RegistryConfig",
    "TerminalProgress", "login", "logout",
]
