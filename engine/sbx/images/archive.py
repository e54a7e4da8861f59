"""``sbx save`` / ``sbx load``: image archives in Docker's ``docker save`` format and OCI layouts.

``save`` writes what ``docker save`` writes since Docker 25, which is both formats at once
(``load`` reads such an archive through its ``index.json``)::

    oci-layout                      {"imageLayoutVersion": "1.0.0"}
    index.json                      one OCI manifest per saved name (ref.name annotations)
    blobs/sha256/<hex>              configs, manifests and uncompressed layer tars
    manifest.json                   [{"Config", "RepoTags", "Layers"}]  (docker-archive)
    repositories                    {"redis": {"latest": "<top layer id>"}}

so ``docker load``, ``skopeo copy docker-archive:`` and ``oci-archive:``, and ``umoci``
(on the unpacked directory) all read it.  ``load`` reads that, the older docker-archive
layout (``<id>/layer.tar`` per layer, possibly symlinked), and plain OCI image layout tars
(``skopeo copy ... oci-archive:``, ``umoci``): layers may be compressed.  The archive is
hostile input like any layer: every blob is verified (by its digest when the archive
names one, by the config's diff id when it is unpacked) and nothing is committed unless
all of it checks out.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sbx.errors import InvalidArgument, NotFound, SbxError
from sbx.images.discard import discard
from sbx.images.layerblobs import ImageBlobs, image_blobs, open_uncompressed
from sbx.layers import Compression, open_layer_stream
from sbx.layers.safety import clean_path
from sbx.layers.streams import CHUNK
from sbx.oci import mediatypes as mt
from sbx.oci.digest import Digest
from sbx.oci.image import Image, canonical_json
from sbx.oci.manifest import Descriptor, Index, Manifest, Platform, parse_manifest_or_index
from sbx.oci.reference import Reference
from sbx.store import Store, scratch
from sbx.store.images import ImageRecord
from sbx.store.locks import named_lock

NAME_ANNOTATION = "io.containerd.image.name"
REF_ANNOTATION = "org.opencontainers.image.ref.name"
MAX_JSON = 16 * 1024 * 1024


# -- save ---------------------------------------------------------------------------

class _ChunkReader:
    """A ``read()`` over an iterator of byte chunks (what ``tarfile.addfile`` needs)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            try:
                self._buf += next(self._chunks)
            except StopIteration:
                break
        if n < 0:
            out, self._buf = self._buf, b""
        else:
            out, self._buf = self._buf[:n], self._buf[n:]
        return out


class _ArchiveWriter:
    def __init__(self, out: BinaryIO) -> None:
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, bufsize=CHUNK)
        self.written: set[str] = set()
        self._dirs: set[str] = set()

    def _dir(self, name: str) -> None:
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self._dirs:
                self._dirs.add(d)
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
                self.tar.addfile(ti)

    def add(self, name: str, size: int, data: BinaryIO | bytes) -> None:
        if name in self.written:
            return
        self._dir(name)
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime = size, 0o644, 0
        self.tar.addfile(ti, io.BytesIO(data) if isinstance(data, bytes) else data)
        self.written.add(name)

    def add_bytes(self, name: str, data: bytes) -> None:
        self.add(name, len(data), data)

    def close(self) -> None:
        self.tar.close()


def _blob_name(d: Digest) -> str:
    return f"blobs/{d.algorithm}/{d.hex}"


def save(store: Store, names: list[str], out: BinaryIO) -> list[ImageRecord]:
    """Write the images ``names`` (tags, ids, name@digest) as one archive to ``out``."""
    if not names:
        raise InvalidArgument("sbx save needs at least one image", hint="sbx save -o app.tar IMAGE")
    wanted: list[tuple[ImageRecord, Reference | None]] = []
    for n in names:
        rec = store.resolve(n)
        ref: Reference | None = None
        with contextlib.suppress(InvalidArgument):
            r = Reference.parse(n)
            if r.digest is None and (str(r) in _canonical_tags(rec)):
                ref = r
        wanted.append((rec, ref))
    w = _ArchiveWriter(out)
    index: list[dict[str, object]] = []
    docker: dict[Digest, dict[str, object]] = {}
    repositories: dict[str, dict[str, str]] = {}
    with store.lease():
        cache: dict[Digest, ImageBlobs] = {}
        for rec, ref in wanted:
            blobs = cache.get(rec.id) or image_blobs(store, rec, compressed=False)
            cache[rec.id] = blobs
            w.add_bytes(_blob_name(blobs.config_digest), blobs.config)
            for lb in blobs.layers:
                if _blob_name(lb.diff_id) not in w.written:
                    w.add(_blob_name(lb.diff_id), lb.tar_size,
                          _ChunkReader(open_uncompressed(store, lb)))  # type: ignore[arg-type]
            manifest = Manifest(Descriptor(mt.OCI_CONFIG, blobs.config_digest, len(blobs.config)),
                                tuple(Descriptor(mt.OCI_LAYER, lb.diff_id, lb.tar_size)
                                      for lb in blobs.layers))
            body = manifest.to_json()
            mdigest = Digest.of_bytes(body)
            w.add_bytes(_blob_name(mdigest), body)
            entry: dict[str, object] = {"mediaType": mt.OCI_MANIFEST, "digest": str(mdigest),
                                        "size": len(body)}
            if ref is not None:
                entry["annotations"] = {NAME_ANNOTATION: str(ref), REF_ANNOTATION: ref.tag}
            index.append(entry)
            d = docker.setdefault(blobs.config_digest, {
                "Config": _blob_name(blobs.config_digest), "RepoTags": [],
                "Layers": [_blob_name(lb.diff_id) for lb in blobs.layers]})
            if ref is not None:
                tags = d["RepoTags"]
                assert isinstance(tags, list)
                if ref.familiar not in tags:
                    tags.append(ref.familiar)
                if blobs.layers:
                    repositories.setdefault(ref.familiar_repository, {})[ref.tag or "latest"] = \
                        blobs.layers[-1].diff_id.hex
        w.add_bytes("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        w.add_bytes("index.json", canonical_json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX,
                                                  "manifests": index}))
        w.add_bytes("manifest.json", json.dumps(list(docker.values())).encode())
        if repositories:
            w.add_bytes("repositories", json.dumps(repositories).encode())
        w.close()
    return [rec for rec, _ in wanted]


def _canonical_tags(rec: ImageRecord) -> set[str]:
    out = set()
    for t in rec.repo_tags:
        with contextlib.suppress(InvalidArgument):
            out.add(str(Reference.parse(t)))
    return out


# -- load ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Loaded:
    """One image a load committed: its record and the names it was given."""

    image: ImageRecord
    names: tuple[str, ...]

    def lines(self) -> list[str]:
        """Docker's report: ``Loaded image: NAME`` or ``Loaded image ID: sha256:...``."""
        if self.names:
            return [f"Loaded image: {Reference.parse(n).familiar}" for n in self.names]
        return [f"Loaded image ID: {self.image.id}"]


class _Archive:
    """Random access to the members of an image archive tar (a regular, seekable file)."""

    def __init__(self, f: BinaryIO) -> None:
        try:
            self.tar = tarfile.open(fileobj=f, mode="r:")
        except tarfile.TarError as exc:
            raise InvalidArgument(f"not an image archive (tar): {exc}",
                                  hint="give a file written by sbx save, docker save or skopeo") from None
        self.members: dict[str, tarfile.TarInfo] = {}
        for m in self.tar.getmembers():
            with contextlib.suppress(SbxError):
                self.members[clean_path(m.name)] = m

    def member(self, name: str, depth: int = 0) -> tarfile.TarInfo:
        key = clean_path(name, what="archive path")
        m = self.members.get(key)
        if m is None:
            raise NotFound(f"image archive: {name} is missing",
                           hint="the archive is incomplete or not an image archive")
        if m.issym() or m.islnk():
            if depth > 8:
                raise InvalidArgument(f"image archive: too many links at {name}")
            base = key.rpartition("/")[0] if m.issym() else ""
            target = m.linkname if not m.issym() or m.linkname.startswith("/") or not base \
                else f"{base}/{m.linkname}"
            return self.member(target, depth + 1)
        if not m.isreg():
            raise InvalidArgument(f"image archive: {name} is not a regular file")
        return m

    def has(self, name: str) -> bool:
        return clean_path(name) in self.members

    def open(self, name: str) -> BinaryIO:
        f = self.tar.extractfile(self.member(name))
        assert f is not None
        return f  # type: ignore[return-value]

    def read_json(self, name: str) -> object:
        m = self.member(name)
        if m.size > MAX_JSON:
            raise InvalidArgument(f"image archive: {name} is too large ({m.size} bytes)")
        try:
            return json.loads(self.open(name).read())
        except ValueError as exc:
            raise InvalidArgument(f"image archive: {name} is not valid JSON: {exc}") from None

    def read_bytes(self, name: str) -> bytes:
        m = self.member(name)
        if m.size > MAX_JSON:
            raise InvalidArgument(f"image archive: {name} is too large ({m.size} bytes)")
        return self.open(name).read()


@contextlib.contextmanager
def _seekable_plain(store: Store, source: BinaryIO | str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """The archive as a seekable uncompressed file (spooled to the store's tmp if needed)."""
    if isinstance(source, (str, os.PathLike)):
        try:
            f: BinaryIO = open(source, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise NotFound(f"cannot open {source}: {exc.strerror}",
                           hint="give the path of a tar written by sbx save or docker save") from None
    else:
        f = source
    try:
        seekable = False
        with contextlib.suppress(OSError, ValueError, AttributeError):
            seekable = f.seekable() and f.tell() >= 0
        head = b""
        if seekable:
            pos = f.tell()
            head = f.read(8)
            f.seek(pos)
        if seekable and Compression.detect(head) is Compression.NONE:
            yield f
            return
        tmp = scratch.temp_path(store.layout.tmp, "load")
        try:
            with open(tmp, "w+b") as spool:
                stream = open_layer_stream(f)
                shutil.copyfileobj(stream.tar, spool, CHUNK)  # type: ignore[misc]
                spool.seek(0)
                yield spool  # type: ignore[misc]
        finally:
            scratch.remove(tmp)
    finally:
        if isinstance(source, (str, os.PathLike)):
            f.close()


class _Loader:
    def __init__(self, store: Store, archive: _Archive) -> None:
        self.store = store
        self.archive = archive
        self.created_blobs: list[Digest] = []
        self.created_layers: list[Digest] = []

    def blob(self, name: str, expected: Digest | None, size: int | None = None) -> Digest:
        """Ingest one archive member as a blob (verified against ``expected``)."""
        store = self.store
        if expected is not None and store.has_blob(expected):
            return expected
        m = self.archive.member(name)
        if size is not None and m.size != size:
            raise InvalidArgument(f"image archive: {name} has {m.size} bytes, the manifest says {size}")
        with store.ingest(expected, m.size) as writer:
            writer.copy_from(self.archive.open(name), CHUNK)
        assert writer.digest is not None
        self.created_blobs.append(writer.digest)
        return writer.digest

    def layer(self, name: str, diff_id: Digest, expected: Digest | None,
              compression: Compression | None, size: int | None = None) -> None:
        store = self.store
        if store.has_layer(diff_id):
            return
        key = expected.hex if expected is not None else diff_id.hex
        with named_lock(store.layout.lock_path(f"pull-{key}")):
            if store.has_layer(diff_id):
                return
            blob = self.blob(name, expected, size)
            store.add_layer_from_blob(blob, diff_id, compression=compression)
            self.created_layers.append(diff_id)

    def config(self, name: str, expected: Digest | None) -> bytes:
        raw = self.archive.read_bytes(name)
        got = Digest.of_bytes(raw)
        if expected is not None and got != expected:
            raise InvalidArgument(f"image archive: config {name} does not match its digest "
                                  f"{expected} (got {got})", hint="the archive is corrupt")
        return raw

    # -- docker-archive ---------------------------------------------------------
    def docker(self) -> list[Loaded]:
        entries = self.archive.read_json("manifest.json")
        if not isinstance(entries, list):
            raise InvalidArgument("image archive: manifest.json must be a JSON list")
        out = []
        for e in entries:
            if not isinstance(e, dict) or "Config" not in e:
                raise InvalidArgument("image archive: manifest.json entry without Config")
            cfg_name = str(e["Config"])
            raw = self.config(cfg_name, _digest_from_path(cfg_name))
            image = Image.from_json(raw)
            layers = [str(x) for x in e.get("Layers") or ()]
            if len(layers) != len(image.diff_ids):
                raise InvalidArgument(f"image archive: {len(layers)} layers listed but the "
                                      f"config has {len(image.diff_ids)} diff ids")
            for path, diff_id in zip(layers, image.diff_ids, strict=True):
                self.layer(path, diff_id, _digest_from_path(path), None)
            tags = [str(Reference.parse(t)) for t in e.get("RepoTags") or ()]
            rec = self.store.commit_image(raw, tags)
            out.append(Loaded(rec, tuple(tags)))
        return out

    # -- OCI image layout ---------------------------------------------------------
    def oci(self, platform: Platform | None) -> list[Loaded]:
        index = Index.from_json(self.archive.read_bytes("index.json"))
        out = []
        for desc in index.manifests:
            name = _oci_name(desc)
            body = self._oci_blob_bytes(desc)
            parsed = parse_manifest_or_index(body, desc.media_type)
            if isinstance(parsed, Index):
                want = platform or Platform.current()
                desc = parsed.select(want.os, want.architecture, want.variant)
                body = self._oci_blob_bytes(desc)
                parsed = parse_manifest_or_index(body, desc.media_type)
                if not isinstance(parsed, Manifest):
                    raise InvalidArgument("image archive: nested image indexes are not supported")
            raw = self.config(_blob_name(parsed.config.digest), parsed.config.digest)
            image = Image.from_json(raw)
            if len(parsed.layers) != len(image.diff_ids):
                raise InvalidArgument(f"image archive: manifest {desc.digest.short} lists "
                                      f"{len(parsed.layers)} layers, its config "
                                      f"{len(image.diff_ids)} diff ids")
            for ld, diff_id in zip(parsed.layers, image.diff_ids, strict=True):
                comp = Compression.parse(mt.layer_compression(ld.media_type)) \
                    if mt.is_layer(ld.media_type) else None
                self.layer(_blob_name(ld.digest), diff_id, ld.digest, comp, ld.size)
            self.store.put_blob(body, desc.digest)
            tags = [name] if name else []
            rec = self.store.commit_image(raw, tags, manifest=desc.digest)
            out.append(Loaded(rec, tuple(tags)))
        return out

    def _oci_blob_bytes(self, desc: Descriptor) -> bytes:
        raw = self.archive.read_bytes(_blob_name(desc.digest))
        if Digest.of_bytes(raw) != desc.digest or len(raw) != desc.size:
            raise InvalidArgument(f"image archive: blob {desc.digest} does not match its "
                                  "descriptor", hint="the archive is corrupt")
        return raw


def _digest_from_path(path: str) -> Digest | None:
    """``blobs/sha256/<hex>`` names its digest; docker's older ``<id>/layer.tar`` does not."""
    parts = clean_path(path).split("/")
    if len(parts) == 3 and parts[0] == "blobs" and parts[1] == "sha256" and len(parts[2]) == 64:
        with contextlib.suppress(InvalidArgument):
            return Digest.parse(f"sha256:{parts[2]}")
    return None


def _oci_name(desc: Descriptor) -> str | None:
    """The image name an index entry carries, or None (then the image is loaded untagged).

    containerd's full name counts when the OCI ``ref.name`` agrees with its tag (a tool
    that derived a new entry from an old one, as ``umoci repack`` does, copies the old
    name but sets a new ref.name); otherwise a ``ref.name`` that is a full reference.
    """
    ann = desc.annotation_map
    ref_name = ann.get(REF_ANNOTATION, "")
    full = ann.get(NAME_ANNOTATION, "")
    candidates = []
    if full:
        candidates.append((full, True))
    if ref_name and ("/" in ref_name or ":" in ref_name):
        candidates.append((ref_name, False))
    for text, check_tag in candidates:
        with contextlib.suppress(InvalidArgument):
            ref = Reference.parse(text)
            if ref.digest is not None:
                continue
            if check_tag and ref_name and ref.tag != ref_name:
                continue
            return str(ref)
    return None


def load(store: Store, source: BinaryIO | str | os.PathLike[str], *,
         platform: Platform | None = None) -> list[Loaded]:
    """Load every image in an archive (docker-archive or OCI layout tar) into the store."""
    with _seekable_plain(store, source) as f:
        archive = _Archive(f)
        loader = _Loader(store, archive)
        try:
            with store.lease():
                # index.json first: Docker 25+ and sbx write both (consistent), while a
                # layout another tool changed (umoci repack) has a stale manifest.json
                if archive.has("index.json") and archive.has("oci-layout"):
                    return loader.oci(platform)
                if archive.has("manifest.json"):
                    return loader.docker()
                raise InvalidArgument("not an image archive: it has neither manifest.json "
                                      "(docker save) nor index.json (OCI layout)",
                                      hint="for a root filesystem tar use sbx import")
        except BaseException:
            discard(store, blobs=loader.created_blobs, layers=loader.created_layers)
            raise


def save_to_path(store: Store, names: list[str], path: Path) -> list[ImageRecord]:
    """``save`` into a file, atomically (a partial archive is never left under ``path``)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.sbx-{os.getpid()}.tmp")
    try:
        try:
            f = open(tmp, "wb")  # noqa: SIM115 - closed right below
        except OSError as exc:
            raise InvalidArgument(f"cannot write the archive {path}: {exc.strerror}",
                                  hint="check that the directory exists and is writable") from None
        with f:
            recs = save(store, names, f)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    return recs


__all__ = ["Loaded", "load", "save", "save_to_path"]
