"""save/load through a private store (no root: plain files only), layer blobs for push,
and how index entries are named."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from sbx.errors import InvalidArgument, NotFound
from sbx.images.archive import _oci_name, load, save
from sbx.images.layerblobs import image_blobs
from sbx.images.push import build_manifest
from sbx.layers import Compression
from sbx.layers.diff import diff
from sbx.layout import Layout
from sbx.oci import mediatypes as mt
from sbx.oci.digest import Digest
from sbx.oci.manifest import Descriptor, Manifest
from sbx.store import Store

from tests.unit.store.helpers import rootfs_tar


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(Layout(tmp_path / "root", tmp_path / "run"))


def _import(store: Store, name: str, files: dict[str, bytes]) -> None:
    store.import_rootfs(io.BytesIO(rootfs_tar(files)), name)


def test_save_then_load_into_another_store(store: Store, tmp_path: Path) -> None:
    _import(store, "app:1", {"hello.txt": b"hi\n", "etc/conf": b"x=1\n"})
    buf = io.BytesIO()
    save(store, ["app:1"], buf)
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == ["app:1"]
    assert index["manifests"][0]["annotations"]["io.containerd.image.name"] == \
        "docker.io/library/app:1"
    other = Store(Layout(tmp_path / "other", tmp_path / "run2"))
    buf.seek(0)
    loaded = load(other, buf)
    assert [line for x in loaded for line in x.lines()] == ["Loaded image: app:1"]
    rec = other.resolve("app:1")
    (layer,) = other.layer_paths(rec)
    assert (layer / "hello.txt").read_bytes() == b"hi\n"


def test_load_of_a_non_archive_says_so(store: Store, tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs.tar"
    rootfs.write_bytes(rootfs_tar({"a": b"1"}))
    with pytest.raises(InvalidArgument, match="neither manifest.json") as info:
        load(store, rootfs)
    assert "sbx import" in (info.value.hint or "")
    with pytest.raises(NotFound):
        load(store, tmp_path / "missing.tar")


def test_layer_blobs_regenerate_a_tar_with_the_same_diff_id_when_made_by_diff(
        store: Store, tmp_path: Path) -> None:
    src = tmp_path / "upper"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_text("content")
    raw = io.BytesIO()
    diff(src, raw)
    raw.seek(0)
    layer = store.add_layer_from_tar(raw)
    from sbx.oci.image import Image

    rec = store.commit_image(Image(diff_ids=(layer.diff_id,)), ["built:1"])
    with store.lease():
        blobs = image_blobs(store, rec, compressed=True)
    assert not blobs.rewritten
    (lb,) = blobs.layers
    assert lb.diff_id == layer.diff_id and lb.compression is Compression.GZIP
    assert store.layer(layer.diff_id).blob == lb.digest  # recorded for the next push
    body, media_type = build_manifest(blobs)
    m = Manifest.from_json(body)
    assert media_type == mt.DOCKER_MANIFEST
    assert m.layers[0].media_type == mt.DOCKER_LAYER_GZIP and m.layers[0].digest == lb.digest


def test_imported_layers_get_a_rewritten_config(store: Store) -> None:
    _import(store, "imp:1", {"b": b"2", "a": b"1"})
    rec = store.resolve("imp:1")
    with store.lease():
        blobs = image_blobs(store, rec, compressed=False)
    if blobs.rewritten:
        assert blobs.config_digest != rec.id
        cfg = json.loads(blobs.config)
        assert cfg["rootfs"]["diff_ids"] == [str(lb.diff_id) for lb in blobs.layers]


@pytest.mark.parametrize(("annotations", "expected"), [
    ({"io.containerd.image.name": "docker.io/library/bb:latest",
      "org.opencontainers.image.ref.name": "latest"}, "docker.io/library/bb:latest"),
    ({"io.containerd.image.name": "docker.io/library/bb:latest",
      "org.opencontainers.image.ref.name": "umoci"}, None),
    ({"org.opencontainers.image.ref.name": "skopeo/oci:1"}, "docker.io/skopeo/oci:1"),
    ({"org.opencontainers.image.ref.name": "latest"}, None),
    ({}, None),
])
def test_oci_index_entry_names(annotations: dict[str, str], expected: str | None) -> None:
    d = Descriptor(mt.OCI_MANIFEST, Digest.of_bytes(b"x"), 1,
                   annotations=tuple(sorted(annotations.items())))
    assert _oci_name(d) == expected
