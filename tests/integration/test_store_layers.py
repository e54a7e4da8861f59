"""Layers in overlay form, for real: whiteouts and opaque dirs hide lower content in a
mounted overlay, and an overlay upper dir turns back into a layer that does the same."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sbx.layers.diff import diff
from sbx.layout import Layout
from sbx.oci.image import Image
from sbx.store import Store

pytestmark = pytest.mark.integration


def _tar(entries: list[tuple[str, bytes | None]]) -> bytes:
    """``(name, data)`` pairs; ``None`` data makes a directory."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 1_700_000_000
            if data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o644
                tar.addfile(ti, io.BytesIO(data))
    return buf.getvalue()


LOWER = _tar([("a", None), ("a/keep", b"k"), ("a/gone", b"g"), ("o", None), ("o/lower", b"l"),
              ("o/sub", None), ("o/sub/deep", b"d"), ("top-gone", b"t")])
UPPER = _tar([("a", None), ("a/.wh.gone", b""), (".wh.top-gone", b""), ("o", None),
              ("o/.wh..wh..opq", b""), ("o/new", b"n")])


@pytest.fixture
def mounts() -> Iterator[list[Path]]:
    """Targets mounted during the test; unmounted (lazily if busy) afterwards."""
    targets: list[Path] = []
    yield targets
    for t in reversed(targets):
        subprocess.run(["umount", str(t)], check=False, capture_output=True)
        if os.path.ismount(t):
            subprocess.run(["umount", "-l", str(t)], check=False, capture_output=True)


def _mount_overlay(target: Path, lowers: list[Path], *, upper: Path | None = None,
                   work: Path | None = None) -> None:
    target.mkdir(parents=True, exist_ok=True)
    opts = "lowerdir=" + ":".join(str(p) for p in reversed(lowers))  # top-most first
    if upper is not None and work is not None:
        opts += f",upperdir={upper},workdir={work}"
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o", opts, str(target)],
                   check=True, capture_output=True)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(Layout(tmp_path / "root", tmp_path / "run"))


def _image(store: Store, *layers: bytes) -> list[Path]:
    diff_ids = tuple(store.add_layer_from_tar(io.BytesIO(data)).diff_id for data in layers)
    rec = store.commit_image(Image(diff_ids=diff_ids), ["overlay-test"])
    return store.layer_paths(rec)


def _assert_hidden(merged: Path) -> None:
    assert (merged / "a/keep").read_bytes() == b"k"
    assert not (merged / "a/gone").exists()
    assert not (merged / "top-gone").exists()
    assert sorted(p.name for p in (merged / "o").iterdir()) == ["new"]


@pytest.mark.root_only("mounts overlayfs on the host directly")
def test_whiteouts_in_overlay_form(store: Store, tmp_path: Path, mounts: list[Path]) -> None:
    lower, upper = _image(store, LOWER, UPPER)
    st = os.lstat(upper / "a/gone")
    assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    prefix = "trusted" if os.geteuid() == 0 else "user"  # rootless: overlay's userxattr form
    assert os.getxattr(upper / "o", f"{prefix}.overlay.opaque") == b"y"
    assert not list(upper.rglob(".wh.*"))
    merged = tmp_path / "merged"
    _mount_overlay(merged, [lower, upper])
    mounts.append(merged)
    _assert_hidden(merged)


@pytest.mark.root_only("mounts overlayfs on the host directly")
def test_upper_dir_diff_round_trip(store: Store, tmp_path: Path, mounts: list[Path]) -> None:
    [lower] = _image(store, LOWER)
    up, work, merged = tmp_path / "up", tmp_path / "work", tmp_path / "merged"
    up.mkdir()
    work.mkdir()
    _mount_overlay(merged, [lower], upper=up, work=work)
    mounts.append(merged)
    # What a RUN step might do: delete files, replace a directory, add a file.
    (merged / "a/gone").unlink()
    (merged / "top-gone").unlink()
    shutil.rmtree(merged / "o")
    (merged / "o").mkdir()
    (merged / "o/new").write_bytes(b"n")
    subprocess.run(["umount", str(merged)], check=True)
    mounts.remove(merged)

    out = io.BytesIO()
    diff(up, out)
    names = [m.name for m in tarfile.open(fileobj=io.BytesIO(out.getvalue()))]
    assert "a/.wh.gone" in names and ".wh.top-gone" in names and "o/.wh..wh..opq" in names
    again = io.BytesIO()
    diff(up, again)
    assert again.getvalue() == out.getvalue()

    new_layer = store.add_layer_from_tar(io.BytesIO(out.getvalue()))
    merged2 = tmp_path / "merged2"
    _mount_overlay(merged2, [lower, store.layer_path(new_layer.diff_id)])
    mounts.append(merged2)
    _assert_hidden(merged2)


def test_import_busybox_rootfs(store: Store, busybox_tar: Path) -> None:
    rec = store.import_rootfs(busybox_tar, "bb:latest")
    assert store.resolve("bb").id == rec.id
    [layer] = store.layer_paths(rec)
    assert (layer / "bin/busybox").stat().st_mode & 0o111
    assert os.readlink(layer / "bin/sh") == "/bin/busybox"
    assert stat.S_IMODE((layer / "tmp").stat().st_mode) == 0o1777
    report = store.prune(all=True)
    assert report.deleted == (str(rec.id),)
    assert report.reclaimed > 1_000_000  # busybox alone is bigger than that
    assert not layer.exists()
