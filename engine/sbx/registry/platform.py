"""Choose a platform's manifest from a parsed image index or manifest list (a JSON dict).

A minimal stand-in until ``sbx.oci.manifest.Index.select`` is available to callers:
exact os/architecture match, then the variant (``arm64`` defaults to ``v8``, ``arm`` to
``v7``), preferring an entry without a variant when none is asked for.
"""

from __future__ import annotations

import platform as _platform
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sbx.errors import InvalidArgument, NotFound

_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
         "armv7l": "arm", "armv6l": "arm", "i386": "386", "i686": "386", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}
_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7"}


@dataclass(frozen=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """``linux/arm64/v8`` -> Platform('linux', 'arm64', 'v8')."""
        parts = text.strip().split("/")
        if len(parts) < 2 or len(parts) > 3 or not all(parts):
            raise InvalidArgument(f"invalid platform {text!r}",
                                  hint="write it as os/arch[/variant], e.g. linux/amd64")
        return cls(parts[0], _ARCH.get(parts[1], parts[1]), parts[2] if len(parts) == 3 else "")

    @classmethod
    def host(cls) -> Platform:
        machine = _platform.machine().lower()
        variant = "v6" if machine == "armv6l" else ""
        return cls("linux", _ARCH.get(machine, machine), variant)

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def _variant(arch: str, variant: str) -> str:
    return variant or _DEFAULT_VARIANT.get(arch, "")


def select_manifest(index: Mapping[str, Any], want: Platform) -> Mapping[str, Any]:
    """The descriptor in ``index["manifests"]`` for ``want``; ``NotFound`` lists what exists."""
    entries = [m for m in index.get("manifests") or [] if isinstance(m, Mapping)]
    candidates = []
    for m in entries:
        p = m.get("platform") or {}
        if p.get("os") != want.os or p.get("architecture") != want.architecture:
            continue
        have = _variant(want.architecture, str(p.get("variant") or ""))
        if want.variant and have != _variant(want.architecture, want.variant):
            continue
        exact = have == _variant(want.architecture, want.variant)
        candidates.append((0 if exact else 1, m))
    if candidates:
        candidates.sort(key=lambda c: c[0])
        return candidates[0][1]
    have = sorted({str(Platform(str((m.get("platform") or {}).get("os", "?")),
                                str((m.get("platform") or {}).get("architecture", "?")),
                                str((m.get("platform") or {}).get("variant") or "")))
                   for m in entries})
    raise NotFound(f"no image for platform {want} in the index",
                   hint=f"available: {', '.join(have) or 'none'}; choose one with --platform")
