"""Importing rootfs tars, committing configs, resolving names and ids, tagging."""

from __future__ import annotations

import gzip
import io
import stat
from pathlib import Path

import pytest
from sbx.errors import InvalidArgument, NoSuchImage, StoreError
from sbx.oci.digest import Digest
from sbx.oci.image import History, Image, ImageConfig
from sbx.store import Store

from .helpers import rootfs_tar


def _import(store: Store, ref: str | None, files: dict[str, bytes] | None = None, **kw: object):  # type: ignore[no-untyped-def]
    data = rootfs_tar(files or {"etc/hostname": b"box\n"}, dirs=("etc",))
    return store.import_rootfs(io.BytesIO(data), ref, **kw)  # type: ignore[arg-type]


def test_import_rootfs(store: Store) -> None:
    rec = _import(store, "bb:latest", message="from test",
                  changes=ImageConfig(cmd=("sh",), env=("PATH=/bin",)))
    assert rec.repo_tags == ("bb:latest",)
    assert rec.image.config.cmd == ("sh",)
    assert rec.image.history[0].comment == "from test"
    assert rec.id == Digest.of_bytes(store.blobs.read(rec.id))
    assert rec.size == len(b"box\n")
    [layer] = store.layer_paths(rec)
    assert (layer / "etc/hostname").read_bytes() == b"box\n"
    assert layer.name == rec.layer_diff_ids[0].hex
    assert stat.S_IMODE(store.layout.layers.stat().st_mode) == 0o700


def test_import_gzip_and_path(store: Store, tmp_path: Path) -> None:
    data = rootfs_tar({"a": b"1"})
    p = tmp_path / "rootfs.tar.gz"
    p.write_bytes(gzip.compress(data))
    rec = store.import_rootfs(p, "gz")
    layer = store.layer(rec.layer_diff_ids[0])
    assert layer.compression == "gzip" and layer.tar_size == len(data)
    assert rec.repo_tags == ("gz:latest",)


def test_same_layer_imported_twice_is_stored_once(store: Store) -> None:
    one = _import(store, "a")
    two = _import(store, "b")
    assert one.layer_diff_ids == two.layer_diff_ids
    assert len(list(store.layers.records())) == 1


@pytest.mark.parametrize("name", [
    "bb", "bb:latest", "docker.io/library/bb", "docker.io/library/bb:latest",
    "index.docker.io/library/bb:latest",
])
def test_resolve_names(store: Store, name: str) -> None:
    rec = _import(store, "bb:latest")
    assert store.resolve(name).id == rec.id


def test_resolve_ids_and_prefixes(store: Store) -> None:
    rec = _import(store, "bb")
    assert store.resolve(str(rec.id)).id == rec.id
    assert store.resolve(rec.id.hex).id == rec.id
    assert store.resolve(rec.id.short).id == rec.id
    assert store.resolve(rec.id.hex[:3]).id == rec.id
    assert store.resolve("sha256:" + rec.id.hex[:5]).id == rec.id


def test_tag_wins_over_id_prefix(store: Store) -> None:
    rec = _import(store, "bb")
    other = _import(store, None, {"x": b"other"})
    store.tag(str(other.id), rec.id.hex[:4])  # a repository named like the id prefix
    assert store.resolve(rec.id.hex[:4]).id == other.id


def test_ambiguous_prefix(store: Store) -> None:
    ids = [_import(store, None, {"f": str(i).encode()}).id for i in range(17)]
    digits = [i.hex[0] for i in ids]
    shared = next(d for d in digits if digits.count(d) > 1)  # 17 ids, 16 digits: one repeats
    with pytest.raises(NoSuchImage, match="ambiguous"):
        store.resolve(shared)


def test_not_found_message_and_reference(store: Store) -> None:
    with pytest.raises(NoSuchImage) as exc:
        store.resolve("nope")
    assert exc.value.reference == "nope:latest"
    assert str(exc.value) == "Unable to find image 'nope:latest' locally"
    with pytest.raises(NoSuchImage) as exc2:
        store.resolve("sha256:" + "0" * 64)
    assert exc2.value.reference == "sha256:" + "0" * 64


def test_invalid_reference(store: Store) -> None:
    with pytest.raises(InvalidArgument):
        store.resolve("Not/Valid")


def test_tag_untag_and_move(store: Store) -> None:
    one = _import(store, "app:1")
    two = _import(store, None, {"v": b"2"})
    store.tag("app:1", "app:stable")
    store.tag("app:1", "localhost:5000/team/app:1")
    assert set(store.resolve("app:1").repo_tags) == {"app:1", "app:stable", "localhost:5000/team/app:1"}
    store.tag(str(two.id), "app:stable")  # moving a tag
    assert store.resolve("app:stable").id == two.id
    assert store.untag("app:stable") is True
    assert store.untag("app:stable") is False
    with pytest.raises(NoSuchImage):
        store.resolve("app:stable")
    assert store.get(one.id).repo_tags == ("app:1", "localhost:5000/team/app:1")


def test_commit_image_and_parent_listing(store: Store) -> None:
    base = _import(store, "base")
    layer = store.add_layer_from_tar(io.BytesIO(rootfs_tar({"app": b"bin"})))
    child_img = base.image.with_layer(layer.diff_id, History(created_by="COPY app /"))
    mid = store.commit_image(child_img, parent=base.id)          # untagged intermediate
    top = store.commit_image(child_img.with_config(ImageConfig(cmd=("app",))), ["app"], parent=mid.id)
    assert [p.name for p in store.layer_paths(top)] == [d.hex for d in top.layer_diff_ids]
    listed = [r.id for r in store.images()]
    assert top.id in listed and base.id in listed and mid.id not in listed
    assert mid.id in [r.id for r in store.images(all=True)]


def test_commit_keeps_raw_config_bytes(store: Store) -> None:
    rec = _import(store, "bb")
    raw = b'{"os": "linux",  "architecture": "amd64", "rootfs": {"type": "layers", "diff_ids": ["%s"]}}' % \
        str(rec.layer_diff_ids[0]).encode()
    pulled = store.commit_image(raw, ["pulled"], repo_digests=["pulled@sha256:" + "ab" * 32])
    assert pulled.id == Digest.of_bytes(raw)
    assert pulled.repo_digests == ("pulled@sha256:" + "ab" * 32,)
    assert store.resolve("pulled@sha256:" + "ab" * 32).id == pulled.id


def test_commit_refuses_missing_layer(store: Store) -> None:
    img = Image(diff_ids=(Digest.of_bytes(b"missing"),))
    with pytest.raises(StoreError, match="not in the store"):
        store.commit_image(img, ["x"])


def test_add_layer_with_known_diff_id_reads_nothing_when_present(store: Store) -> None:
    data = rootfs_tar({"a": b"1"})
    first = store.add_layer_from_tar(io.BytesIO(data))

    class Exploding(io.BytesIO):
        def read(self, *a: object) -> bytes:  # type: ignore[override]
            raise AssertionError("must not be read")

    again = store.add_layer_from_tar(Exploding(), diff_id=first.diff_id)
    assert again == first


def test_add_layer_from_blob(store: Store) -> None:
    data = gzip.compress(rootfs_tar({"a": b"1"}))
    blob = store.put_blob(data)
    diff_id = Digest.of_bytes(gzip.decompress(data))
    rec = store.add_layer_from_blob(blob, diff_id, size=len(data))
    assert rec.blob == blob and rec.diff_id == diff_id
    assert (store.layer_path(diff_id) / "a").read_bytes() == b"1"


def test_add_layer_diff_id_mismatch_stores_nothing(store: Store) -> None:
    from sbx.errors import DigestMismatch

    wrong = Digest.of_bytes(b"wrong")
    with pytest.raises(DigestMismatch, match="diff id mismatch"):
        store.add_layer_from_tar(io.BytesIO(rootfs_tar({"a": b"1"})), diff_id=wrong)
    assert not store.has_layer(wrong)
    assert [p.name for p in store.layout.tmp.iterdir()] == []


def test_layer_paths_reports_missing_layer(store: Store) -> None:
    import shutil

    rec = _import(store, "bb")
    shutil.rmtree(store.layer_path(rec.layer_diff_ids[0]))
    with pytest.raises(StoreError, match="is missing"):
        store.layer_paths(rec)
