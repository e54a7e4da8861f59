"""Image references, normalised as Docker does (``redis`` -> ``docker.io/library/redis:latest``).

Grammar (distribution/reference): ``[domain[:port]/]path[:tag][@digest]``.  The first
component is a domain when it contains ``.`` or ``:`` or is ``localhost``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sbx.errors import InvalidArgument
from sbx.oci.digest import Digest

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAINS = ("index.docker.io", "registry-1.docker.io")
DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DOMAIN = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::[0-9]+)?$|^\[[0-9a-fA-F:]+\](?::[0-9]+)?$")


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str | None = None
    digest: Digest | None = None

    @classmethod
    def parse(cls, text: str) -> Reference:
        """Parse and normalise; a bare name gets ``docker.io/library/`` and ``:latest``."""
        if not text or text != text.strip():
            raise InvalidArgument(f"invalid reference format: {text!r}")
        rest = text
        digest = None
        if "@" in rest:
            rest, _, dg = rest.partition("@")
            digest = Digest.parse(dg)
        tag = None
        slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > slash:
            rest, tag = rest[:colon], rest[colon + 1:]
            if not _TAG.match(tag):
                raise InvalidArgument(f"invalid reference format: bad tag {tag!r} in {text!r}")
        parts = rest.split("/")
        if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"
                               or parts[0].startswith("[")):
            domain, parts = parts[0], parts[1:]
            if not _DOMAIN.match(domain):
                raise InvalidArgument(f"invalid reference format: bad registry {domain!r} in {text!r}")
        else:
            domain = DEFAULT_DOMAIN
        if domain in LEGACY_DOMAINS:
            domain = DEFAULT_DOMAIN
        for p in parts:
            if not _COMPONENT.match(p):
                hint = "repository names must be lowercase" if p.lower() != p else None
                raise InvalidArgument(f"invalid reference format: {text!r}", hint=hint)
        if domain == DEFAULT_DOMAIN and len(parts) == 1:
            parts = ["library", *parts]
        path = "/".join(parts)
        if len(path) > 255:
            raise InvalidArgument(f"invalid reference format: repository name too long: {text!r}")
        if tag is None and digest is None:
            tag = DEFAULT_TAG
        return cls(domain, path, tag, digest)

    @property
    def repository(self) -> str:
        """Full repository: ``docker.io/library/redis``."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_repository(self) -> str:
        """How Docker shows it: ``redis``, ``team/app``, ``localhost:5000/app``."""
        if self.domain == DEFAULT_DOMAIN:
            return self.path[len("library/"):] if self.path.startswith("library/") else self.path
        return self.repository

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.domain, self.path, tag, None)

    def __str__(self) -> str:
        """Canonical full form: ``docker.io/library/redis:latest``."""
        s = self.repository
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s

    @property
    def familiar(self) -> str:
        """Familiar form: ``redis:latest``."""
        s = self.familiar_repository
        if self.tag:
            s += f":{self.tag}"
        if self.digest:
            s += f"@{self.digest}"
        return s
