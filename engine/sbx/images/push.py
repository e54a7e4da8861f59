"""``sbx push``: layers the registry lacks are uploaded (or mounted), then the config, manifest last.

Output follows Docker::

    The push refers to repository [localhost:5000/team/app]
    5f70bf18a086: Pushed
    a3b5c80a4eba: Layer already exists
    1.0: digest: sha256:... size: 527

A blob the repository already has is skipped after a ``HEAD``; a layer pulled from
another repository of the same registry is mounted from there instead of uploaded.  An
image pulled from a registry keeps its manifest, so pushing it unchanged gives the same
digest; other images get a Docker schema 2 manifest (OCI when a layer is zstd).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TextIO

from sbx.errors import InvalidArgument, SbxError
from sbx.images.layerblobs import ImageBlobs, LayerBlob, image_blobs
from sbx.layers import Compression
from sbx.oci import mediatypes as mt
from sbx.oci.digest import Digest
from sbx.oci.manifest import Descriptor, Manifest
from sbx.oci.reference import Reference
from sbx.registry import PushResult, RegistryClient, RegistryConfig
from sbx.registry import progress as pg
from sbx.store import Store
from sbx.store.images import ImageRecord

DEFAULT_WORKERS = 5  # Docker's max-concurrent-uploads

ClientFactory = Callable[[str], RegistryClient]


@dataclass(frozen=True)
class PushOutcome:
    """What a push did: the manifest digest and size, and what happened to each layer."""

    reference: Reference
    digest: Digest
    size: int
    results: tuple[PushResult, ...]   # per layer, lowest first
    rewritten: bool                   # pushed with regenerated layer tars (another image id)


def _mount_source(record: ImageRecord, target: Reference) -> str | None:
    """A repository on the same registry that this image was pulled from (for a mount)."""
    for text in record.repo_digests:
        with contextlib.suppress(SbxError):
            r = Reference.parse(text)
            if r.domain == target.domain and r.path != target.path:
                return r.path
    return None


def build_manifest(blobs: ImageBlobs, *, oci: bool = False) -> tuple[bytes, str]:
    """A schema 2 manifest for ``blobs`` (Docker flavour unless ``oci`` or a zstd layer)."""
    oci = oci or any(lb.compression is Compression.ZSTD for lb in blobs.layers)
    config = Descriptor(mt.OCI_CONFIG if oci else mt.DOCKER_CONFIG, blobs.config_digest,
                        len(blobs.config))
    layers = tuple(Descriptor(mt.layer_media_type(lb.compression.value, oci=oci), lb.digest,
                              lb.size) for lb in blobs.layers)
    media_type = mt.OCI_MANIFEST if oci else mt.DOCKER_MANIFEST
    return Manifest(config, layers, media_type).to_json(), media_type


def stored_manifest(store: Store, record: ImageRecord, blobs: ImageBlobs) -> tuple[bytes, str] | None:
    """The manifest the image was pulled with, if it still describes exactly these blobs."""
    rec = store.records.get(record.id)
    if blobs.rewritten or rec is None or rec.manifest is None or not store.has_blob(rec.manifest):
        return None
    try:
        body = store.blobs.read(rec.manifest)
        m = Manifest.from_json(body)
    except SbxError:
        return None
    if m.config.digest != blobs.config_digest or \
            [d.digest for d in m.layers] != [lb.digest for lb in blobs.layers]:
        return None
    return body, m.media_type


class Pusher:
    def __init__(self, store: Store, *, config: RegistryConfig | None = None,
                 client_factory: ClientFactory | None = None,
                 workers: int = DEFAULT_WORKERS) -> None:
        self.store = store
        self.config = config if config is not None else RegistryConfig.from_env()
        self._factory = client_factory or (lambda domain: RegistryClient(domain, config=self.config))
        self.workers = max(1, workers)

    def push(self, name: str, *, out: TextIO | None = None) -> PushOutcome:
        ref = Reference.parse(name)
        if ref.digest is not None:
            raise InvalidArgument(f"cannot push a digest reference: {name}",
                                  hint="push by tag: sbx push REPOSITORY[:TAG]")
        record = self.store.resolve(name)
        term = pg.TerminalProgress(out) if out is not None else None
        if term is not None:
            term.message(f"The push refers to repository [{ref.repository}]")
        client = self._factory(ref.domain)
        try:
            with self.store.lease():
                blobs = image_blobs(self.store, record, compressed=True)
                results = self._layers(client, ref, record, blobs, term)
                with self.store.open_blob(blobs.config_digest) as f:
                    client.push_blob(ref.path, blobs.config_digest, f, len(blobs.config))
                body, media_type = stored_manifest(self.store, record, blobs) or \
                    build_manifest(blobs)
                tag = ref.tag or "latest"
                digest = client.push_manifest(ref.path, tag, body, media_type)
                if not blobs.rewritten:
                    self.store.put_blob(body, digest)
                    self.store.commit_image(blobs.config, (),
                                            repo_digests=[f"{ref.repository}@{digest}"],
                                            manifest=digest)
        finally:
            client.close()
            if term is not None:
                term.close()
        if term is not None:
            term.message(f"{tag}: digest: {digest} size: {len(body)}")
        return PushOutcome(ref, digest, len(body), tuple(results), blobs.rewritten)

    def _layers(self, client: RegistryClient, ref: Reference, record: ImageRecord,
                blobs: ImageBlobs, term: pg.TerminalProgress | None) -> list[PushResult]:
        mount_from = _mount_source(record, ref)
        for lb in reversed(blobs.layers):
            if term is not None:
                term.status(lb.digest, pg.PREPARING)

        def one(lb: LayerBlob) -> PushResult:
            cb = term.callback(lb.digest, pg.PUSHING) if term is not None else None
            with self.store.open_blob(lb.digest, lb.size) as f:
                res = client.push_blob(ref.path, lb.digest, f, lb.size, mount_from=mount_from,
                                       progress=cb)
            if term is not None:
                text = {PushResult.EXISTS: pg.LAYER_EXISTS, PushResult.UPLOADED: pg.PUSHED,
                        PushResult.MOUNTED: f"{pg.MOUNTED} {mount_from}"}[res]
                term.status(lb.digest, text)
            return res

        with ThreadPoolExecutor(self.workers, thread_name_prefix="sbx-push") as pool:
            return list(pool.map(one, blobs.layers))


def push(store: Store, name: str, *, out: TextIO | None = None,
         config: RegistryConfig | None = None) -> PushOutcome:
    """Push one image (see :class:`Pusher`)."""
    return Pusher(store, config=config).push(name, out=out)
