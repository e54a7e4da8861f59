"""The tag index (``images/tags.json``): canonical reference -> image id.

Readers load the file without locking (it is replaced by rename, never rewritten in
place); writers edit it under a ``FileLock`` so concurrent tags are never lost.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

from sbx import atomic
from sbx.errors import StoreError
from sbx.layout import Layout
from sbx.oci.digest import Digest
from sbx.oci.reference import Reference
from sbx.store.locks import named_lock


class TagIndex:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def load(self) -> dict[str, Digest]:
        try:
            raw = atomic.read_json(self.layout.tags_file)
        except FileNotFoundError:
            return {}
        except (ValueError, json.JSONDecodeError) as exc:
            raise StoreError(f"tag index {self.layout.tags_file} is unreadable: {exc}",
                             hint="restore or delete the file; images stay, only names are lost") from None
        return {ref: Digest.parse(i) for ref, i in raw.items()}

    @contextlib.contextmanager
    def edit(self) -> Iterator[dict[str, Digest]]:
        """Load, let the caller change the mapping, and write it back atomically if changed."""
        self.layout.images.mkdir(parents=True, exist_ok=True)
        with named_lock(self.layout.lock_path("tags")):
            tags = self.load()
            before = dict(tags)
            yield tags
            if tags != before:
                atomic.write_json(self.layout.tags_file, {k: str(v) for k, v in tags.items()},
                                  fsync=True)

    def get(self, ref: Reference) -> Digest | None:
        return self.load().get(str(ref))

    def set(self, ref: Reference, image_id: Digest) -> Digest | None:
        """Point ``ref`` at ``image_id``; returns the image it pointed to before."""
        with self.edit() as tags:
            old = tags.get(str(ref))
            tags[str(ref)] = image_id
        return old

    def remove(self, ref: Reference) -> Digest | None:
        with self.edit() as tags:
            return tags.pop(str(ref), None)

    def remove_image(self, image_id: Digest) -> list[str]:
        """Drop every tag of one image; returns the canonical references removed."""
        with self.edit() as tags:
            gone = sorted(r for r, i in tags.items() if i == image_id)
            for r in gone:
                del tags[r]
        return gone


def by_image(tags: dict[str, Digest]) -> dict[Digest, list[str]]:
    """Invert the index: image id -> its canonical references, sorted."""
    out: dict[Digest, list[str]] = {}
    for ref, image_id in sorted(tags.items()):
        out.setdefault(image_id, []).append(ref)
    return out


def familiar(ref: str) -> str:
    return Reference.parse(ref).familiar
