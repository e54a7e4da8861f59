"""``rmi`` semantics (Docker's), ``prune`` (dangling / -a) with mark and sweep, and ``du``."""

from __future__ import annotations

import io

import pytest
from sbx.errors import Conflict, NoSuchImage
from sbx.oci.image import History
from sbx.store import Store

from .helpers import rootfs_tar


def _import(store: Store, ref: str | None, payload: bytes = b"box\n"):  # type: ignore[no-untyped-def]
    return store.import_rootfs(io.BytesIO(rootfs_tar({"f": payload})), ref)


def _events(events: list) -> list[str]:  # type: ignore[type-arg]
    return [str(e) for e in events]


def test_rmi_by_name_untags_then_deletes(store: Store) -> None:
    rec = _import(store, "bb")
    store.tag("bb", "bb:v1")
    assert _events(store.remove_image("bb")) == ["Untagged: bb:latest"]
    assert store.get(rec.id).repo_tags == ("bb:v1",)
    events = _events(store.remove_image("bb:v1"))
    assert events == ["Untagged: bb:v1", f"Deleted: {rec.id}"]
    with pytest.raises(NoSuchImage):
        store.resolve(str(rec.id))
    assert list(store.layers.records()) == [] and list(store.blobs.digests()) == []


def test_rmi_by_id_refuses_several_tags_without_force(store: Store) -> None:
    rec = _import(store, "bb")
    store.tag("bb", "other/bb:1")
    with pytest.raises(Conflict, match="referenced in multiple repositories"):
        store.remove_image(rec.id.short)
    events = _events(store.remove_image(rec.id.short, force=True))
    assert events == ["Untagged: bb:latest", "Untagged: other/bb:1", f"Deleted: {rec.id}"]


def test_rmi_by_id_with_one_tag(store: Store) -> None:
    rec = _import(store, "bb")
    assert _events(store.remove_image(str(rec.id))) == ["Untagged: bb:latest", f"Deleted: {rec.id}"]


def test_rmi_refuses_image_in_use(store: Store) -> None:
    rec = _import(store, "bb")
    def users(image_id: str) -> list[str]:
        return ["c0ffee" * 10] if image_id == str(rec.id) else []
    with pytest.raises(Conflict, match="container c0ffeec0ffee is using"):
        store.remove_image("bb", in_use=users)
    with pytest.raises(Conflict, match="being used by stopped container c0ffeec0ffee"):
        store.remove_image(rec.id.short, in_use=users)
    # forced: untagged, but kept (the container still needs its layers)
    assert _events(store.remove_image("bb", force=True, in_use=users)) == ["Untagged: bb:latest"]
    kept = store.get(rec.id)
    assert kept.repo_tags == () and store.layer_paths(kept)


def test_rmi_in_use_by_name_allowed_when_other_tags_remain(store: Store) -> None:
    _import(store, "bb")
    store.tag("bb", "bb:v1")
    events = store.remove_image("bb", in_use=lambda _i: ["abc"])
    assert _events(events) == ["Untagged: bb:latest"]


def test_rmi_keeps_shared_layers(store: Store) -> None:
    one = _import(store, "one")
    two = store.commit_image(one.image.with_history(History(comment="same layers")), ["two"])
    assert one.id != two.id
    store.remove_image("one")
    assert store.layer_paths(store.resolve("two"))


def test_rmi_unknown(store: Store) -> None:
    with pytest.raises(NoSuchImage) as exc:
        store.remove_image("ghost")
    assert exc.value.reference == "ghost:latest"


def test_prune_dangling_only(store: Store) -> None:
    kept = _import(store, "bb", b"kept")
    dangling = _import(store, None, b"dangling" * 1000)
    report = store.prune()
    assert report.deleted == (str(dangling.id),)
    assert report.reclaimed >= 8000
    assert store.resolve("bb").id == kept.id
    assert [r.id for r in store.images()] == [kept.id]


def test_prune_all_keeps_images_in_use(store: Store) -> None:
    used = _import(store, "used", b"u")
    unused = _import(store, "unused", b"x" * 5000)
    report = store.prune(all=True, in_use={str(used.id)})
    assert report.deleted == (str(unused.id),)
    assert report.untagged == ("unused:latest",)
    assert report.layers_deleted == 1 and report.reclaimed >= 5000
    assert [r.id for r in store.images()] == [used.id]
    assert store.prune(all=True, in_use={str(used.id)}).deleted == ()


def test_prune_removes_intermediate_chain(store: Store) -> None:
    base = _import(store, "base", b"b")
    layer = store.add_layer_from_tar(io.BytesIO(rootfs_tar({"g": b"1"})))
    mid = store.commit_image(base.image.with_layer(layer.diff_id), parent=base.id)
    top = store.commit_image(mid.image.with_history(History(created_by="CMD x")), ["app"],
                             parent=mid.id)
    store.untag("app")
    report = store.prune()
    assert set(report.deleted) == {str(top.id), str(mid.id)}
    assert store.resolve("base").id == base.id
    assert not store.has_layer(layer.diff_id)


def test_prune_sweeps_stray_blobs_and_scratch(store: Store) -> None:
    stray = store.put_blob(b"orphan manifest")
    leftover = store.layout.tmp / "layer.deadbeef.999999999.abcd"
    leftover.mkdir()
    (leftover / "partial").write_bytes(b"x")
    report = store.prune()
    assert report.blobs_deleted == 1 and not store.has_blob(stray)
    assert not leftover.exists()


def test_du(store: Store) -> None:
    one = _import(store, "one", b"a" * 1000)
    store.commit_image(one.image.with_history(History(comment="shares the layer")), ["two"])
    _import(store, "three", b"b" * 3000)
    usage = store.du(in_use={str(one.id)})
    assert usage.images == 3 and usage.active == 1 and usage.layers == 2
    assert usage.layers_size == 4000
    assert usage.reclaimable == 3000
    assert usage.size >= usage.layers_size + usage.blobs_size - 1
