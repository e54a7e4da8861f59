"""Image records (``images/<id-hex>.json``) and ``ImageRecord``, the view callers get.

The image id is the digest of the config blob, which is kept in the blob store; the
record adds what the config does not say: its parent (for build chains), the digests it
was pulled by, the manifest it came from, and when it was added.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sbx import atomic
from sbx.layout import Layout
from sbx.oci.digest import Digest
from sbx.oci.image import Image, ImageConfig


@dataclass(frozen=True)
class ImageRecord:
    """A local image: id, familiar tags, the parsed config, and its size on disk."""

    id: Digest
    repo_tags: tuple[str, ...]          # familiar form: ("redis:latest",)
    image: Image
    created: str | None
    size: int                           # sum of the unpacked layer sizes
    layer_diff_ids: tuple[Digest, ...]
    repo_digests: tuple[str, ...] = ()  # "redis@sha256:..."
    parent: Digest | None = None
    added: float = 0.0

    @property
    def config(self) -> ImageConfig:
        return self.image.config

    @property
    def short_id(self) -> str:
        return self.id.short

    @property
    def dangling(self) -> bool:
        return not self.repo_tags


@dataclass(frozen=True)
class StoredImage:
    """The on-disk record, before tags and sizes are joined in."""

    id: Digest
    parent: Digest | None = None
    repo_digests: tuple[str, ...] = ()
    manifest: Digest | None = None
    added: float = 0.0

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> StoredImage:
        parent = obj.get("parent")
        manifest = obj.get("manifest")
        return cls(id=Digest.parse(obj["id"]), parent=Digest.parse(parent) if parent else None,
                   repo_digests=tuple(obj.get("repo_digests") or ()),
                   manifest=Digest.parse(manifest) if manifest else None,
                   added=float(obj.get("added", 0)))

    def to_json(self) -> dict[str, Any]:
        return {"id": str(self.id), "parent": str(self.parent) if self.parent else None,
                "repo_digests": list(self.repo_digests),
                "manifest": str(self.manifest) if self.manifest else None, "added": self.added}


class ImageRecords:
    """The directory of image records; writes are atomic renames."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def path(self, image_id: Digest) -> Path:
        return self.layout.images / f"{image_id.hex}.json"

    def has(self, image_id: Digest) -> bool:
        return self.path(image_id).is_file()

    def get(self, image_id: Digest) -> StoredImage | None:
        try:
            return StoredImage.from_json(atomic.read_json(self.path(image_id)))
        except FileNotFoundError:
            return None

    def put(self, rec: StoredImage) -> None:
        self.layout.images.mkdir(parents=True, exist_ok=True)
        atomic.write_json(self.path(rec.id), rec.to_json(), fsync=True)

    def merge(self, image_id: Digest, *, parent: Digest | None = None,
              repo_digests: tuple[str, ...] = (), manifest: Digest | None = None) -> StoredImage:
        """Create the record or add to it (new repo digests; parent/manifest if unset)."""
        old = self.get(image_id)
        if old is None:
            rec = StoredImage(image_id, parent, tuple(dict.fromkeys(repo_digests)), manifest,
                              time.time())
        else:
            rec = StoredImage(image_id, old.parent or parent,
                              tuple(dict.fromkeys(old.repo_digests + repo_digests)),
                              old.manifest or manifest, old.added)
        if rec != old:
            self.put(rec)
        return rec

    def delete(self, image_id: Digest) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path(image_id).unlink()

    def ids(self) -> Iterator[Digest]:
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.layout.images):
                name = entry.name
                if len(name) == 69 and name.endswith(".json"):
                    yield Digest("sha256", name[:64])
