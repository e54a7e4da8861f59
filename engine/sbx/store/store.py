"""``Store``: the machine-wide image store (blobs, unpacked layers, image records, tags).

Names resolve as Docker resolves them: a tag first (``bb`` is
``docker.io/library/bb:latest``), then a repo digest, then a full or unique prefix of an
image id.  Removing follows ``docker rmi``: by name it untags, and the image goes when
its last tag goes; by id it refuses an image with several tags or one a container uses,
unless forced.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from sbx.errors import (
    Conflict,
    InvalidArgument,
    NoSuchImage,
    PermissionDenied,
    SbxError,
    StoreError,
)
from sbx.layers.whiteouts import WhiteoutMode
from sbx.layout import Layout
from sbx.oci.digest import Digest
from sbx.oci.image import History, Image, ImageConfig
from sbx.oci.manifest import Platform
from sbx.oci.reference import Reference

if TYPE_CHECKING:
    from sbx.layers.streams import Compression
    from sbx.store import gc
from sbx.store.blobs import BlobStore, BlobWriter
from sbx.store.images import ImageRecord, ImageRecords, StoredImage
from sbx.store.layers import LayerRecord, LayerStore
from sbx.store.locks import StoreLock
from sbx.store.tags import TagIndex, by_image, familiar

_HEX_PREFIX = re.compile(r"^[0-9a-f]{1,64}$")
InUse = Callable[[str], Iterable[str]]


@dataclass(frozen=True)
class DeleteEvent:
    """One line of ``docker rmi`` output: ``Untagged: bb:latest`` or ``Deleted: sha256:...``."""

    kind: str  # "Untagged" | "Deleted"
    value: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.value}"


def now_rfc3339() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Store:
    """The image store under ``layout`` (shared by every process on the machine)."""

    def __init__(self, layout: Layout, *, keep_special_bits: bool = True,
                 whiteouts: WhiteoutMode = WhiteoutMode.OVERLAY) -> None:
        self.layout = layout
        try:
            for d in (layout.blobs, layout.images, layout.tmp, layout.locks):
                d.mkdir(parents=True, exist_ok=True)
            # Unpacked layers may hold setuid binaries: keep them out of other users' reach.
            layout.layers.mkdir(mode=0o700, parents=True, exist_ok=True)
        except PermissionError as exc:
            raise PermissionDenied(f"cannot create the image store in {layout.root}: {exc.strerror}",
                                   hint="run as root, or point SBX_ROOT (--root) at a directory "
                                        "you own") from None
        self.lock = StoreLock(layout.lock_path("store"))
        self.blobs = BlobStore(layout, self.lock)
        self.layers = LayerStore(layout, self.lock, keep_special_bits=keep_special_bits,
                                 whiteouts=whiteouts)
        self.tags = TagIndex(layout)
        self.records = ImageRecords(layout)

    def lease(self) -> contextlib.AbstractContextManager[None]:
        """Hold the store shared across several steps (ingest, unpack, commit) so a
        concurrent prune cannot collect what is not referenced yet."""
        return self.lock.shared()

    # -- blobs ---------------------------------------------------------------------
    def ingest(self, expected: Digest | None = None,
               size: int | None = None) -> contextlib.AbstractContextManager[BlobWriter]:
        return self.blobs.ingest(expected, size)

    def open_blob(self, digest: Digest, size: int | None = None) -> BinaryIO:
        return self.blobs.open(digest, size)

    def has_blob(self, digest: Digest) -> bool:
        return self.blobs.has(digest)

    def put_blob(self, data: bytes, expected: Digest | None = None) -> Digest:
        return self.blobs.put(data, expected)

    # -- layers --------------------------------------------------------------------
    def has_layer(self, diff_id: Digest) -> bool:
        return self.layers.has(diff_id)

    def layer(self, diff_id: Digest) -> LayerRecord:
        return self.layers.get(diff_id)

    def layer_path(self, diff_id: Digest) -> Path:
        return self.layers.path(diff_id)

    def add_layer_from_tar(self, source: BinaryIO | str | Path, *, diff_id: Digest | None = None,
                           compression: Compression | None = None) -> LayerRecord:
        """Register a layer from a (possibly compressed) tar; returns diff id, blob digest, sizes.

        With ``diff_id`` known, nothing is read if the layer is already there.
        """
        if diff_id is None:
            return self.layers.add(source, compression=compression)
        if isinstance(source, (str, Path)):
            path = source
            return self.layers.ensure(diff_id, lambda: open(path, "rb", buffering=0),  # type: ignore[arg-type,return-value]
                                      compression=compression)
        f = source
        return self.layers.ensure(diff_id, lambda: contextlib.nullcontext(f), compression=compression)

    def add_layer_from_blob(self, blob: Digest, diff_id: Digest, *, size: int | None = None,
                            compression: Compression | None = None) -> LayerRecord:
        """Unpack a stored blob as layer ``diff_id`` (once); the blob is kept for push/save."""
        return self.layers.ensure(diff_id, lambda: self.blobs.open(blob, size),
                                  compression=compression, blob=blob)

    def layer_paths(self, record: ImageRecord) -> list[Path]:
        """The unpacked layer directories, lowest first (overlay wants them reversed)."""
        paths = []
        for d in record.layer_diff_ids:
            p = self.layers.path(d)
            if not p.is_dir():
                raise StoreError(f"image {record.short_id}: layer {d} is missing from {self.layout.layers}",
                                 hint=f"remove the image (sbx rmi -f {record.short_id}) and pull or build it again")
            paths.append(p)
        return paths

    # -- images --------------------------------------------------------------------
    def commit_image(self, config: Image | bytes, tags: Iterable[str] = (), *,
                     parent: Digest | None = None, repo_digests: Iterable[str] = (),
                     manifest: Digest | None = None) -> ImageRecord:
        """Store a config (bytes kept as given, so a pulled image keeps its id) and tag it."""
        raw = config.to_json() if isinstance(config, Image) else bytes(config)
        image = config if isinstance(config, Image) else Image.from_json(raw)
        refs = [Reference.parse(t) for t in tags]
        for r in refs:
            if r.digest is not None:
                raise InvalidArgument(f"cannot tag with a digest reference: {r.familiar}")
        with self.lock.shared():
            missing = [d for d in image.diff_ids if not self.layers.has(d)]
            if missing:
                raise StoreError(f"cannot commit image: layer {missing[0]} is not in the store",
                                 hint="add the layers before the image config")
            image_id = self.blobs.put(raw)
            digests = tuple(str(Reference.parse(d)) for d in repo_digests)
            self.records.merge(image_id, parent=parent, repo_digests=digests, manifest=manifest)
            if refs:
                with self.tags.edit() as index:
                    for r in refs:
                        index[str(r)] = image_id
        return self.get(image_id)

    def import_rootfs(self, fileobj: BinaryIO | str | Path, reference: str | None = None, *,
                      message: str = "", changes: ImageConfig | None = None,
                      platform: Platform | None = None) -> ImageRecord:
        """``sbx import``: one rootfs tar (plain, gzip or zstd) becomes a one-layer image."""
        ref = Reference.parse(reference) if reference else None
        plat = platform or Platform.current()
        with self.lease():
            layer = self.add_layer_from_tar(fileobj)
            created = now_rfc3339()
            image = Image(architecture=plat.architecture, os=plat.os, variant=plat.variant,
                          config=changes or ImageConfig(), diff_ids=(layer.diff_id,),
                          history=(History(created=created,
                                           comment=message or "Imported from -"),),
                          created=created)
            return self.commit_image(image, [str(ref)] if ref else [])

    def get(self, image_id: Digest) -> ImageRecord:
        stored = self.records.get(image_id)
        if stored is None:
            raise NoSuchImage(str(image_id))
        return self._record(stored, by_image(self.tags.load()), {})

    def _record(self, stored: StoredImage, tags: dict[Digest, list[str]],
                layer_cache: dict[Digest, int]) -> ImageRecord:
        image = Image.from_json(self.blobs.read(stored.id, verify=False))
        size = 0
        for d in image.diff_ids:
            if d not in layer_cache:
                try:
                    layer_cache[d] = self.layers.get(d).size
                except SbxError:  # a missing layer counts as 0 bytes; layer_paths reports it
                    layer_cache[d] = 0
            size += layer_cache[d]
        return ImageRecord(id=stored.id, repo_tags=tuple(familiar(t) for t in tags.get(stored.id, ())),
                           image=image, created=image.created, size=size,
                           layer_diff_ids=image.diff_ids,
                           repo_digests=tuple(familiar(d) for d in stored.repo_digests),
                           parent=stored.parent, added=stored.added)

    def _stored(self) -> dict[Digest, StoredImage]:
        out = {}
        for i in self.records.ids():
            rec = self.records.get(i)
            if rec is not None:
                out[i] = rec
        return out

    def images(self, all: bool = False) -> list[ImageRecord]:
        """Newest first; without ``all``, untagged intermediate (parent) images are hidden."""
        stored = self._stored()
        tags = by_image(self.tags.load())
        parents = {r.parent for r in stored.values() if r.parent is not None}
        cache: dict[Digest, int] = {}
        out = []
        for i, rec in stored.items():
            if not all and i not in tags and i in parents:
                continue
            with contextlib.suppress(SbxError):  # a record whose config blob is gone
                out.append(self._record(rec, tags, cache))
        out.sort(key=lambda r: (r.created or "", r.added), reverse=True)
        return out

    # -- resolving -----------------------------------------------------------------
    def resolve(self, name_or_id: str) -> ImageRecord:
        """An image by familiar or full name, name@digest, full id, ``sha256:`` id or id prefix."""
        return self._resolve(name_or_id)[0]

    def _resolve(self, text: str) -> tuple[ImageRecord, str]:
        """The image and how it was named: ``"tag"``, ``"digest"`` or ``"id"``."""
        text = text.strip()
        if not text:
            raise InvalidArgument("empty image name or id")
        if text.startswith("sha256:"):
            return self._by_id_prefix(text[len("sha256:"):], text), "id"
        try:
            ref: Reference | None = Reference.parse(text)
        except InvalidArgument:
            if not _HEX_PREFIX.match(text):
                raise
            ref = None
        if ref is not None and ref.digest is not None:
            wanted = f"{ref.repository}@{ref.digest}"
            for rec in self._stored().values():
                if wanted in rec.repo_digests:
                    return self.get(rec.id), "digest"
        elif ref is not None:
            image_id = self.tags.get(ref)
            if image_id is not None and self.records.has(image_id):
                return self.get(image_id), "tag"
        asked = ref.familiar if ref is not None else text
        if _HEX_PREFIX.match(text):
            return self._by_id_prefix(text, asked), "id"
        raise NoSuchImage(asked)

    def _by_id_prefix(self, prefix: str, asked: str) -> ImageRecord:
        """The one image whose id starts with ``prefix``; ``asked`` names it in errors."""
        if not _HEX_PREFIX.match(prefix):
            raise NoSuchImage(asked)
        matches = [i for i in self.records.ids() if i.hex.startswith(prefix)]
        if not matches:
            raise NoSuchImage(asked)
        if len(matches) > 1:
            raise NoSuchImage(asked, f"image id prefix {prefix!r} is ambiguous: "
                                     f"{len(matches)} images match",
                              hint="give more characters of the image id")
        return self.get(matches[0])

    # -- tags ------------------------------------------------------------------------
    def tag(self, src: str, dst_ref: str) -> ImageRecord:
        """``sbx tag SRC DST``: point ``DST`` at the image ``SRC`` names."""
        record = self.resolve(src)
        ref = Reference.parse(dst_ref)
        if ref.digest is not None:
            raise InvalidArgument(f"refusing to create a tag with a digest reference: {dst_ref}")
        with self.lock.shared():
            self.tags.set(ref, record.id)
        return self.get(record.id)

    def untag(self, ref: str) -> bool:
        """Remove one tag; ``True`` if it existed.  The image itself stays (maybe dangling)."""
        return self.tags.remove(Reference.parse(ref)) is not None

    # -- removal -----------------------------------------------------------------------
    def remove_image(self, name_or_id: str, *, force: bool = False,
                     in_use: InUse | None = None) -> list[DeleteEvent]:
        """``docker rmi`` semantics; ``in_use(image_id)`` lists the containers using an image."""
        with self.lock.exclusive():
            record, how = self._resolve(name_or_id)
            users = list(in_use(str(record.id))) if in_use is not None else []
            refs = [r for r, i in self.tags.load().items() if i == record.id]
            events: list[DeleteEvent] = []
            if how in ("tag", "digest"):
                ref = Reference.parse(name_or_id.strip())
                if users and not force and len(refs) <= 1:
                    raise Conflict(f"conflict: unable to remove repository reference \"{name_or_id}\" "
                                   f"(must force) - container {users[0][:12]} is using its "
                                   f"referenced image {record.short_id}",
                                   hint="remove the container first, or use --force")
                if how == "tag":
                    self.tags.remove(ref)
                    refs = [r for r in refs if r != str(ref)]
                else:
                    self._drop_repo_digest(record.id, f"{ref.repository}@{ref.digest}")
                events.append(DeleteEvent("Untagged", ref.familiar))
                if refs:
                    return events
            elif len(refs) > 1 and not force:
                raise Conflict(f"conflict: unable to delete {record.short_id} (must be forced) - "
                               "image is referenced in multiple repositories",
                               hint="remove it by name, or use --force")
            if users and not force:
                raise Conflict(f"conflict: unable to delete {record.short_id} (must be forced) - "
                               f"image is being used by stopped container {users[0][:12]}",
                               hint="remove the container first, or use --force")
            children = [r.id for r in self._stored().values() if r.parent == record.id]
            if children and how == "id":
                raise Conflict(f"conflict: unable to delete {record.short_id} (cannot be forced) - "
                               "image has dependent child images",
                               hint="remove the images built on top of it first")
            for r in self.tags.remove_image(record.id):
                events.append(DeleteEvent("Untagged", familiar(r)))
            if users or children:
                return events  # kept, untagged: a container or a child image still needs it
            self.records.delete(record.id)
            events.append(DeleteEvent("Deleted", str(record.id)))
            self._sweep()
            return events

    def _drop_repo_digest(self, image_id: Digest, canonical: str) -> None:
        rec = self.records.get(image_id)
        if rec is not None and canonical in rec.repo_digests:
            self.records.put(StoredImage(rec.id, rec.parent,
                                         tuple(d for d in rec.repo_digests if d != canonical),
                                         rec.manifest, rec.added))

    def _layer_refs(self, stored: Iterable[StoredImage]) -> dict[Digest, tuple[Digest, ...]]:
        out = {}
        for rec in stored:
            try:
                out[rec.id] = Image.from_json(self.blobs.read(rec.id, verify=False)).diff_ids
            except Exception:  # noqa: BLE001 - an unreadable config references nothing
                out[rec.id] = ()
        return out

    def _sweep(self) -> gc.SweepResult:
        from sbx.store import gc

        stored = list(self._stored().values())
        return gc.sweep(layers=self.layers, blobs=self.blobs, keep_images=stored,
                        layer_refs=self._layer_refs(stored), tmp=self.layout.tmp)

    def prune(self, all: bool = False, in_use: Iterable[str] = frozenset()) -> gc.PruneReport:
        """``image prune [-a]``: drop dangling (or all unused) images, then unreferenced data."""
        from sbx.store import gc

        used = {str(i) for i in in_use}
        with self.lock.exclusive():
            stored = self._stored()
            tagged = set(by_image(self.tags.load()))
            victims = gc.choose_victims(stored, tagged, used, all=all)
            untagged: list[str] = []
            for image_id in victims:
                untagged.extend(familiar(r) for r in self.tags.remove_image(image_id))
                self.records.delete(image_id)
            result = self._sweep()
        return gc.PruneReport(deleted=tuple(str(v) for v in victims), untagged=tuple(untagged),
                              reclaimed=result.reclaimed, layers_deleted=len(result.layers),
                              blobs_deleted=len(result.blobs))

    def du(self, in_use: Iterable[str] = frozenset()) -> gc.DiskUsage:
        """Totals for ``system df``: shared layers count once; reclaimable = not used."""
        from sbx.store import gc

        used = {str(i) for i in in_use}
        stored = list(self._stored().values())
        refs = self._layer_refs(stored)
        layer_sizes = {r.diff_id: r.size for r in self.layers.records()}
        active_layers = {d for s in stored if str(s.id) in used for d in refs.get(s.id, ())}
        blob_sizes = {d: self.blobs.size(d) for d in self.blobs.digests()}
        layers_size = sum(layer_sizes.values())
        counts: dict[Digest, int] = {}
        for s in stored:
            for d in set(refs.get(s.id, ())):
                counts[d] = counts.get(d, 0) + 1
        per_image = {str(s.id): sum(layer_sizes.get(d, 0) for d in set(refs.get(s.id, ()))
                                    if counts.get(d) == 1) for s in stored}
        return gc.DiskUsage(
            images=len(stored), active=sum(1 for s in stored if str(s.id) in used),
            size=layers_size + sum(blob_sizes.values()),
            reclaimable=layers_size - sum(layer_sizes.get(d, 0) for d in active_layers),
            layers=len(layer_sizes), layers_size=layers_size,
            blobs=len(blob_sizes), blobs_size=sum(blob_sizes.values()), per_image=per_image)


__all__ = ["DeleteEvent", "Store", "now_rfc3339"]
