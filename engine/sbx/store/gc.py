"""Mark and sweep over image records, layers and blobs, and disk usage totals.

Everything here runs under the exclusive store lock (taken by ``Store``): no writer is
between "stored" and "referenced" while we decide what is garbage.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sbx.oci.digest import Digest
from sbx.store import scratch
from sbx.store.blobs import BlobStore
from sbx.store.images import StoredImage
from sbx.store.layers import LayerRecord, LayerStore


@dataclass(frozen=True)
class PruneReport:
    """What ``prune`` removed: image ids, the tags it dropped, and the bytes freed."""

    deleted: tuple[str, ...] = ()
    untagged: tuple[str, ...] = ()
    reclaimed: int = 0
    layers_deleted: int = 0
    blobs_deleted: int = 0


@dataclass(frozen=True)
class SweepResult:
    reclaimed: int = 0
    layers: tuple[Digest, ...] = ()
    blobs: tuple[Digest, ...] = ()


@dataclass(frozen=True)
class DiskUsage:
    """``sbx system df`` for images: counts and bytes (shared layers counted once)."""

    images: int
    active: int
    size: int          # unpacked layers plus blobs
    reclaimable: int   # what removing every image no container uses would free
    layers: int
    layers_size: int
    blobs: int
    blobs_size: int
    per_image: Mapping[str, int] = field(default_factory=dict)  # id -> unique bytes


def choose_victims(stored: Mapping[Digest, StoredImage], tagged: set[Digest], in_use: set[str],
                   *, all: bool) -> list[Digest]:
    """Images to delete, in order: unused and (dangling, or any with ``all``), children first.

    An image that is the parent of a kept image stays (it is an intermediate build step);
    deleting a child may free its parent, so this repeats until nothing changes.
    """
    remaining = dict(stored)
    victims: list[Digest] = []
    while True:
        parents = {r.parent for r in remaining.values() if r.parent is not None}
        batch = sorted(i for i in remaining
                       if str(i) not in in_use and i not in parents and (all or i not in tagged))
        if not batch:
            return victims
        for i in batch:
            victims.append(i)
            del remaining[i]


def sweep(*, layers: LayerStore, blobs: BlobStore, keep_images: Iterable[StoredImage],
          layer_refs: Mapping[Digest, tuple[Digest, ...]], tmp: Path) -> SweepResult:
    """Delete layers and blobs no kept image references, and writers' leftovers in tmp."""
    keep_layers: set[Digest] = set()
    keep_blobs: set[Digest] = set()
    for rec in keep_images:
        keep_blobs.add(rec.id)
        if rec.manifest is not None:
            keep_blobs.add(rec.manifest)
        keep_layers.update(layer_refs.get(rec.id, ()))
    reclaimed = 0
    gone_layers: list[Digest] = []
    records: dict[Digest, LayerRecord] = {r.diff_id: r for r in layers.records()}
    for diff_id, layer in records.items():
        if diff_id in keep_layers:
            if layer.blob is not None:
                keep_blobs.add(layer.blob)
            continue
        reclaimed += layers.delete(diff_id)
        gone_layers.append(diff_id)
    # Directories or metadata without their other half (a crash between the two writes).
    for name in list(layers.dir_names()):
        hexpart = name[:-5] if name.endswith(".json") else name
        if len(hexpart) != 64:
            continue
        d = Digest("sha256", hexpart)
        if d not in keep_layers and d not in records:
            reclaimed += layers.delete(d)
    gone_blobs: list[Digest] = []
    for digest in list(blobs.digests()):
        if digest not in keep_blobs:
            reclaimed += blobs.delete(digest)
            gone_blobs.append(digest)
    with contextlib.suppress(FileNotFoundError):
        for kind in ("blob", "layer"):
            scratch.sweep(tmp, kind, only_dead=False)
    return SweepResult(reclaimed, tuple(gone_layers), tuple(gone_blobs))
