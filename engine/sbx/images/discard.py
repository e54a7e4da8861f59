"""Undo what a failed pull or load stored: its blobs and layers that no image references.

A pull that fails half way (a digest mismatch on the third layer, a 401 on a blob, Ctrl-C)
must leave the store as it found it.  The caller remembers what it created and, after
leaving its ``Store.lease()``, hands the list here; under the exclusive store lock every
item that an image (perhaps committed meanwhile by a concurrent pull of the same image)
still references is kept, the rest is removed.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

from sbx.errors import SbxError
from sbx.oci.digest import Digest
from sbx.store import Store

log = logging.getLogger("sbx.images")


def referenced(store: Store) -> tuple[set[Digest], set[Digest]]:
    """(blobs, layers) that some image record references (call under the store lock)."""
    blobs: set[Digest] = set()
    layers: set[Digest] = set()
    for image_id in store.records.ids():
        rec = store.records.get(image_id)
        if rec is None:
            continue
        blobs.add(rec.id)
        if rec.manifest is not None:
            blobs.add(rec.manifest)
        with contextlib.suppress(SbxError, ValueError):
            layers.update(store.get(rec.id).layer_diff_ids)
    for diff_id in layers:
        with contextlib.suppress(SbxError):
            blob = store.layer(diff_id).blob
            if blob is not None:
                blobs.add(blob)
    return blobs, layers


def discard(store: Store, *, blobs: Iterable[Digest] = (), layers: Iterable[Digest] = ()) -> None:
    """Remove the given blobs and layers unless an image references them; never raises."""
    blobs, layers = list(blobs), list(layers)
    if not blobs and not layers:
        return
    try:
        with store.lock.exclusive():
            keep_blobs, keep_layers = referenced(store)
            for d in layers:
                if d not in keep_layers:
                    store.layers.delete(d)
            for d in blobs:
                if d not in keep_blobs:
                    store.blobs.delete(d)
    except (SbxError, OSError) as exc:  # best effort: `sbx image prune` finishes the job
        log.warning("could not remove what the failed operation stored: %s", exc)
