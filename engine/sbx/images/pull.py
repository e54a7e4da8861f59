"""``sbx pull``: registry -> store, layers fetched in parallel, each blob and layer once per machine.

The flow, as Docker shows it::

    latest: Pulling from library/redis          (after the manifest was found)
    5eb5b503b376: Already exists                (the store has the layer's diff id)
    3c1d0f1a5e2b: Pull complete                 (downloaded, verified, unpacked)
    Digest: sha256:...                          (what the tag pointed at: index or manifest)
    Status: Downloaded newer image for redis:latest

Everything happens under ``Store.lease()`` so a concurrent prune cannot collect a layer
before the image that uses it is committed.  Each blob is fetched under a per-blob lock
(eight processes pulling the same image download it once; the others find it stored) and
each layer is unpacked under the store's per-layer lock.  Blobs go through the store's
verifying ingest, so a digest mismatch stores nothing; if the pull fails after some
layers were stored, they are removed again unless an image uses them (``discard``).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TextIO

from sbx.errors import ImageNotFound, InvalidArgument
from sbx.images.discard import discard
from sbx.layers import Compression
from sbx.oci import mediatypes as mt
from sbx.oci.digest import Digest
from sbx.oci.image import Image
from sbx.oci.manifest import Descriptor, Index, Manifest, Platform, parse_manifest_or_index
from sbx.oci.reference import Reference
from sbx.registry import RegistryClient, RegistryConfig
from sbx.registry import progress as pg
from sbx.registry.errors import OfflineRefused
from sbx.store import Store
from sbx.store.images import ImageRecord
from sbx.store.locks import named_lock

MAX_CONFIG_BYTES = 8 * 1024 * 1024
DEFAULT_WORKERS = 3  # Docker's max-concurrent-downloads

ClientFactory = Callable[[str], RegistryClient]


@dataclass(frozen=True)
class PullResult:
    """What a pull did: the image, the digest the reference resolved to, and what moved."""

    reference: Reference
    image: ImageRecord
    digest: Digest             # of the index or manifest the tag points at
    manifest: Digest           # of the platform manifest that was used
    downloaded: bool           # False: the tag already pointed at this image
    layers_fetched: int
    bytes_fetched: int


class _Progress:
    """Progress sink that is either Docker's terminal renderer or nothing (``-q``)."""

    def __init__(self, out: TextIO | None) -> None:
        self.term = pg.TerminalProgress(out) if out is not None else None

    def status(self, key: Digest, text: str) -> None:
        if self.term is not None:
            self.term.status(key, text)

    def callback(self, key: Digest) -> pg.ProgressCallback | None:
        return self.term.callback(key) if self.term is not None else None

    def message(self, text: str) -> None:
        if self.term is not None:
            self.term.message(text)

    def close(self) -> None:
        if self.term is not None:
            self.term.close()


class Puller:
    """Pulls images into one store; reusable for several pulls."""

    def __init__(self, store: Store, *, config: RegistryConfig | None = None,
                 client_factory: ClientFactory | None = None,
                 workers: int = DEFAULT_WORKERS) -> None:
        self.store = store
        self.config = config if config is not None else RegistryConfig.from_env()
        self._factory = client_factory or (lambda domain: RegistryClient(domain, config=self.config))
        self.workers = max(1, workers)

    def pull(self, name: str, *, platform: Platform | None = None,
             out: TextIO | None = None) -> PullResult:
        """Pull ``name`` (``redis``, ``host:5000/app:1``, ``app@sha256:...``) into the store."""
        ref = Reference.parse(name)
        progress = _Progress(out)
        created_blobs: list[Digest] = []
        created_layers: list[Digest] = []
        try:
            with self._client(ref) as client, self.store.lease():
                return self._pull(client, ref, platform, progress, created_blobs, created_layers)
        except OfflineRefused:
            raise ImageNotFound(
                f"image {ref.familiar} not found locally (offline: SBX_OFFLINE forbids "
                f"contacting {ref.domain})",
                hint="load it (sbx load), build or bootstrap it, point a registry mirror at "
                     "127.0.0.1 (SBX_REGISTRY_MIRRORS), or unset SBX_OFFLINE") from None
        except BaseException:
            progress.close()
            discard(self.store, blobs=created_blobs, layers=created_layers)
            raise

    @contextlib.contextmanager
    def _client(self, ref: Reference) -> Iterator[RegistryClient]:
        client = self._factory(ref.domain)
        try:
            yield client
        finally:
            client.close()

    # -- steps ---------------------------------------------------------------------
    def _pull(self, client: RegistryClient, ref: Reference, platform: Platform | None,
              progress: _Progress, created_blobs: list[Digest],
              created_layers: list[Digest]) -> PullResult:
        reference = str(ref.digest) if ref.digest is not None else (ref.tag or "latest")
        top = client.get_manifest(ref.path, reference)
        manifest_digest, manifest_body, media_type = self._platform_manifest(
            client, ref, top.body, top.media_type, top.digest, platform)
        manifest = Manifest.from_json(manifest_body, media_type)
        progress.message(f"{reference}: Pulling from {ref.path}")
        raw_config = self._fetch_config(client, ref, manifest.config, created_blobs)
        image = Image.from_json(raw_config)
        if len(image.diff_ids) != len(manifest.layers):
            raise InvalidArgument(f"{ref.familiar}: the manifest lists {len(manifest.layers)} "
                                  f"layers but the image config {len(image.diff_ids)} diff ids",
                                  hint="the image is broken at the source; push it again")
        for d in manifest.layers:
            if not mt.is_layer(d.media_type) and d.media_type:
                raise InvalidArgument(f"{ref.familiar}: layer {d.digest.short} has media type "
                                      f"{d.media_type!r}, which is not a filesystem layer",
                                      hint="this is not a container image")
        fetched = [0, 0]
        jobs = list(zip(manifest.layers, image.diff_ids, strict=True))
        for desc, diff_id in jobs:
            if not self.store.has_layer(diff_id):
                progress.status(desc.digest, pg.PULLING)

        def one(job: tuple[Descriptor, Digest]) -> None:
            desc, diff_id = job
            n = self._layer(client, ref, desc, diff_id, progress, created_blobs, created_layers)
            if n:
                fetched[0] += 1
                fetched[1] += n

        if len(jobs) > 1 and self.workers > 1:
            with ThreadPoolExecutor(self.workers, thread_name_prefix="sbx-pull") as pool:
                for _ in pool.map(one, jobs):
                    pass
        else:
            for job in jobs:
                one(job)
        tags = [str(ref)] if ref.digest is None else []
        before = self.store.tags.get(ref) if ref.digest is None else None
        repo_digest = f"{ref.repository}@{top.digest}"
        self.store.put_blob(manifest_body, manifest_digest)
        record = self.store.commit_image(raw_config, tags, repo_digests=[repo_digest],
                                         manifest=manifest_digest)
        progress.message(f"Digest: {top.digest}")
        new = before != record.id or fetched[0] > 0
        shown = ref.familiar
        progress.message(f"Status: {'Downloaded newer image' if new else 'Image is up to date'} "
                         f"for {shown}")
        return PullResult(ref, record, top.digest, manifest_digest, new, fetched[0], fetched[1])

    def _platform_manifest(self, client: RegistryClient, ref: Reference, body: bytes,
                           media_type: str, digest: Digest,
                           platform: Platform | None) -> tuple[Digest, bytes, str]:
        parsed = parse_manifest_or_index(body, media_type)
        if isinstance(parsed, Manifest):
            return digest, body, parsed.media_type
        index: Index = parsed
        want = platform or Platform.current()
        chosen = index.select(want.os, want.architecture, want.variant)
        got = client.get_manifest(ref.path, str(chosen.digest))
        inner = parse_manifest_or_index(got.body, got.media_type)
        if not isinstance(inner, Manifest):
            raise InvalidArgument(f"{ref.familiar}: nested image indexes are not supported")
        return got.digest, got.body, inner.media_type

    def _fetch_config(self, client: RegistryClient, ref: Reference, desc: Descriptor,
                      created_blobs: list[Digest]) -> bytes:
        """The config blob, from the store or fetched once (per-blob lock) and stored."""
        if desc.size > MAX_CONFIG_BYTES:
            raise InvalidArgument(f"{ref.familiar}: image config of {desc.size} bytes is too large")
        with named_lock(self.store.layout.lock_path(f"pull-{desc.digest.hex}")):
            if self.store.has_blob(desc.digest):
                return self.store.blobs.read(desc.digest)
            buf = io.BytesIO()
            client.fetch_blob(ref.path, desc.digest, buf, size=desc.size)
            raw = buf.getvalue()
            self.store.put_blob(raw, desc.digest)
            created_blobs.append(desc.digest)
            return raw

    def _layer(self, client: RegistryClient, ref: Reference, desc: Descriptor, diff_id: Digest,
               progress: _Progress, created_blobs: list[Digest],
               created_layers: list[Digest]) -> int:
        """Make sure layer ``diff_id`` is unpacked; returns the bytes downloaded for it."""
        store = self.store
        if store.has_layer(diff_id):
            progress.status(desc.digest, pg.ALREADY_EXISTS)
            return 0
        compression = Compression.parse(mt.layer_compression(desc.media_type)) \
            if desc.media_type else None
        downloaded = 0
        with named_lock(store.layout.lock_path(f"pull-{desc.digest.hex}")):
            if store.has_layer(diff_id):  # another process finished it while we waited
                progress.status(desc.digest, pg.ALREADY_EXISTS)
                return 0
            if not store.has_blob(desc.digest):
                with store.ingest(desc.digest, desc.size) as writer:
                    client.fetch_blob(ref.path, desc.digest, writer, size=desc.size,
                                      progress=progress.callback(desc.digest))
                created_blobs.append(desc.digest)
                downloaded = desc.size
                progress.status(desc.digest, pg.DOWNLOAD_COMPLETE)
            progress.status(desc.digest, pg.EXTRACTING)
            store.add_layer_from_blob(desc.digest, diff_id, size=desc.size,
                                      compression=compression)
            created_layers.append(diff_id)
        progress.status(desc.digest, pg.PULL_COMPLETE)
        return downloaded


def pull(store: Store, name: str, *, platform: Platform | None = None,
         out: TextIO | None = None, config: RegistryConfig | None = None) -> PullResult:
    """Pull one image (see :class:`Puller`)."""
    return Puller(store, config=config).pull(name, platform=platform, out=out)
