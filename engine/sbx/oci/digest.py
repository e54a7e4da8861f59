"""Content digests (``sha256:<64 hex>``): parsing, streaming hashing and verification."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sbx.errors import DigestMismatch, InvalidArgument

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, order=True)
class Digest:
    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        algo, sep, hexpart = text.partition(":")
        if not sep or algo != "sha256" or not _HEX64.match(hexpart):
            raise InvalidArgument(f"invalid digest {text!r}",
                                  hint="expected sha256: followed by 64 lowercase hex digits")
        return cls(algo, hexpart)

    @classmethod
    def of_bytes(cls, data: bytes) -> Digest:
        import hashlib

        return cls("sha256", hashlib.sha256(data).hexdigest())

    @property
    def short(self) -> str:
        """The 12-hex short form Docker prints (``IMAGE ID``)."""
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


class Hasher:
    """Streaming sha256 that also counts bytes; ``verify`` checks both against a descriptor."""

    def __init__(self) -> None:
        import hashlib

        self._h = hashlib.sha256()
        self.size = 0

    def update(self, data: bytes) -> None:
        self._h.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest("sha256", self._h.hexdigest())

    def verify(self, expected: Digest, expected_size: int | None = None, *, what: str = "blob") -> None:
        got = self.digest()
        if got != expected:
            raise DigestMismatch(f"{what}: digest mismatch: expected {expected}, got {got}",
                                 hint="the data was corrupted in transit or at the source; nothing was stored")
        if expected_size is not None and expected_size != self.size:
            raise DigestMismatch(f"{what}: size mismatch: expected {expected_size} bytes, got {self.size}")
