"""The symlink-safe walker (``sbx.layers.walk``): what it reports and what it never opens."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

from sbx.layers.walk import Dir, ExactReader, walk


def _names(root: Path) -> list[str]:
    with Dir.open(root) as d:
        return [v.name for v in walk(d)]


def test_walk_is_sorted_preorder_and_reports_symlinks_as_symlinks(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "f").write_text("x")
    (tmp_path / "a").write_text("1")
    secret = tmp_path.parent / f"{tmp_path.name}-secret"
    secret.write_text("SECRET")
    os.symlink(secret, tmp_path / "link")
    os.symlink(tmp_path.parent, tmp_path / "dirlink")
    seen = {}
    with Dir.open(tmp_path) as d:
        for v in walk(d):
            kind = stat.S_IFMT(v.node.st.st_mode)
            f = v.node.open_file()
            data = f.read() if f else None
            if f:
                f.close()
            seen[v.name] = (kind, v.node.readlink(), data)
    assert list(seen) == ["a", "b", "b/f", "dirlink", "link"]
    assert seen["link"] == (stat.S_IFLNK, str(secret), None)  # never opened
    assert seen["dirlink"][0] == stat.S_IFLNK  # never descended
    assert seen["b/f"] == (stat.S_IFREG, None, b"x")


def test_a_pinned_file_is_read_from_its_inode_even_after_a_swap(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("mine")
    secret = tmp_path.parent / f"{tmp_path.name}-other"
    secret.write_text("SECRET")
    with Dir.open(tmp_path) as d:
        node = d.pin("f")
        assert node is not None
        os.unlink(tmp_path / "f")
        os.symlink(secret, tmp_path / "f")  # the swap a container would do
        with node, node.open_file() as f:  # type: ignore[union-attr]
            assert f.read() == b"mine"


def test_a_name_that_vanished_is_skipped(tmp_path: Path) -> None:
    with Dir.open(tmp_path) as d:
        assert d.pin("nope") is None
        assert d.subdir("nope") is None
        (tmp_path / "file").write_text("")
        assert d.subdir("file") is None  # not a directory: None, not an error
        os.symlink(tmp_path, tmp_path / "loop")
        assert d.subdir("loop") is None  # a symlink to a directory is not entered


def test_the_root_itself_must_not_be_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    os.symlink(tmp_path / "real", tmp_path / "ln")
    try:
        Dir.open(tmp_path / "ln")
    except OSError as e:
        assert e.errno in (40, 20)  # ELOOP / ENOTDIR
    else:
        raise AssertionError("a symlinked root was opened")


def test_exact_reader_pads_a_shrunk_file_and_cuts_a_grown_one() -> None:
    r = ExactReader(io.BytesIO(b"ab"), 5)
    out = b""
    while chunk := r.read(2):
        out += chunk
    assert out == b"ab\0\0\0"
    r = ExactReader(io.BytesIO(b"abcdef"), 3)
    assert r.read() == b"abc" and r.read() == b""
