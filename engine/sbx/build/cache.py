"""The build cache: step key -> the image that step produced, shared by every process.

A step's key is a hash chain, as in Docker's classic builder: the parent image id (or
``scratch``), the canonical text of the *expanded* instruction, the build args the step
sees (for RUN, whose command gets them as environment), and the digest of the content it
copies (COPY/ADD).  Entries are small JSON files under ``Layout.build_cache_steps``,
written by atomic rename, so concurrent builds share them and a crash never leaves half
an entry.  An entry whose image is gone from the store is a miss.

Whole-build records (``BuildRecord``) sit next to them for the fast path: when the
Dockerfile, the options, the base images and the copied content are all unchanged, the
CLI replays the previous build's output without parsing the Dockerfile again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sbx import atomic
from sbx.layout import Layout

KEY_VERSION = "sbx-build-cache-v1"


def step_key(parent: str, instruction: str, args: Mapping[str, str] | None = None,
             sources: str | None = None) -> str:
    """The cache key (hex) of one step; ``parent`` is the parent image id or "scratch"."""
    doc = {"v": KEY_VERSION, "parent": parent, "instruction": instruction,
           "args": dict(sorted((args or {}).items())), "sources": sources or ""}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def build_key(inputs: Mapping[str, object]) -> str:
    """The key of a whole build from its inputs (Dockerfile bytes digest, options...)."""
    doc = {"v": KEY_VERSION, **inputs}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@dataclass(frozen=True)
class CacheEntry:
    key: str
    image: str       # "sha256:<hex>"
    created: float

    @classmethod
    def from_json(cls, key: str, obj: Mapping[str, object]) -> CacheEntry:
        return cls(key, str(obj["image"]), float(obj.get("created", 0)))  # type: ignore[arg-type]


@dataclass(frozen=True)
class PruneResult:
    entries: int
    reclaimed: int


class BuildCache:
    """Step entries and whole-build records under ``layout.build_cache``."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def _step_path(self, key: str) -> Path:
        return self.layout.build_cache_steps / f"{key}.json"

    def _build_path(self, key: str) -> Path:
        return self.layout.build_cache_builds / f"{key}.json"

    def get(self, key: str) -> CacheEntry | None:
        try:
            return CacheEntry.from_json(key, atomic.read_json(self._step_path(key)))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, image: str, now: float) -> None:
        self.layout.build_cache_steps.mkdir(parents=True, exist_ok=True)
        atomic.write_json(self._step_path(key), {"image": image, "created": now})

    def forget(self, key: str) -> None:
        with contextlib.suppress(OSError):
            self._step_path(key).unlink()

    def get_build(self, key: str) -> dict[str, object] | None:
        try:
            obj = atomic.read_json(self._build_path(key))
        except (OSError, ValueError):
            return None
        return obj if isinstance(obj, dict) else None

    def put_build(self, key: str, record: Mapping[str, object]) -> None:
        self.layout.build_cache_builds.mkdir(parents=True, exist_ok=True)
        atomic.write_json(self._build_path(key), dict(record))

    def forget_build(self, key: str) -> None:
        with contextlib.suppress(OSError):
            self._build_path(key).unlink()

    def prune(self) -> PruneResult:
        """Drop every entry (``sbx builder prune``); images stay until image prune."""
        entries = reclaimed = 0
        for directory in (self.layout.build_cache_steps, self.layout.build_cache_builds):
            try:
                names = os.listdir(directory)
            except FileNotFoundError:
                continue
            for name in names:
                path = directory / name
                with contextlib.suppress(OSError):
                    reclaimed += path.stat().st_size
                    path.unlink()
                    entries += 1
        return PruneResult(entries, reclaimed)
