"""The copy driver's halves without root: layers flattened into one tree (whiteouts and
opaque directories applied), and the changes of a tree against its layers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sbx.build.rootview import RootView
from sbx.layers import whiteouts as wh
from sbx.layers.flatten import changes, flatten

from tests.needs import unavailable


def _whiteout(path: Path) -> None:
    try:
        wh.make_overlay_whiteout(path)
    except PermissionError:
        unavailable("this kernel does not let an ordinary user create overlay whiteouts")


def _layers(tmp_path: Path) -> list[Path]:
    low, mid = tmp_path / "low", tmp_path / "mid"
    for d in ("etc", "opq", "gone/deep", "bin"):
        (low / d).mkdir(parents=True)
    (low / "etc/keep").write_text("keep")
    (low / "etc/old").write_text("old")
    (low / "opq/a").write_text("a")
    (low / "gone/deep/x").write_text("x")
    (low / "bin/busybox").write_text("bb")
    os.link(low / "bin/busybox", low / "bin/sh")
    os.symlink("busybox", low / "bin/ls")
    os.utime(low / "etc/keep", (1_000_000, 1_000_000))
    (mid / "etc").mkdir(parents=True)
    (mid / "opq").mkdir()
    (mid / "opq/b").write_text("b")
    _whiteout(mid / "etc/old")
    _whiteout(mid / "gone")
    try:
        wh.mark_overlay_opaque(mid / "opq", "user.overlay.")
    except OSError:
        unavailable("this file system has no user xattrs")
    return [low, mid]


def test_flatten_applies_whiteouts_opaque_dirs_and_keeps_links(tmp_path: Path) -> None:
    layers = _layers(tmp_path)
    dest = tmp_path / "root"
    dest.mkdir()
    flatten(layers, dest)
    assert (dest / "etc/keep").read_text() == "keep"
    assert os.stat(dest / "etc/keep").st_mtime == 1_000_000
    assert not (dest / "etc/old").exists() and not (dest / "gone").exists()
    assert sorted(os.listdir(dest / "opq")) == ["b"]
    assert os.stat(dest / "bin/sh").st_ino == os.stat(dest / "bin/busybox").st_ino
    assert os.readlink(dest / "bin/ls") == "busybox"
    assert not any(stat.S_ISCHR(os.lstat(p).st_mode) for p in dest.rglob("*"))


def test_changes_name_what_differs_and_what_went(tmp_path: Path) -> None:
    layers = _layers(tmp_path)
    dest = tmp_path / "root"
    dest.mkdir()
    flatten(layers, dest)
    view = RootView(layers)
    assert [ti.name for ti, _ in changes(dest, view)] == []   # nothing changed yet
    (dest / "etc/new").write_text("new")
    (dest / "etc/keep").write_text("changed")
    (dest / "opq/b").unlink()
    (dest / "bin/ls").unlink()
    names = {ti.name: path for ti, path in changes(dest, view)}
    assert set(names) == {"etc/new", "etc/keep", "opq/.wh.b", "bin/.wh.ls"}
    assert names["etc/new"] == str(dest / "etc/new") and names["opq/.wh.b"] is None
