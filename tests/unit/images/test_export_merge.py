"""The overlay merge ``sbx export`` does by walking directories (plain files; whiteouts need
root and are covered by the integration test)."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from sbx.images.export import export, merged

from tests.needs import unavailable


def _tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


def test_upper_wins_and_directories_merge(tmp_path: Path) -> None:
    lower = _tree(tmp_path / "lower", {"etc/a": "lower", "etc/b": "lower", "bin/x": "x"})
    upper = _tree(tmp_path / "upper", {"etc/a": "upper", "new": "n"})
    names = {}
    for name, node in merged([upper, lower]):
        f = node.open_file()
        names[name] = f.read().decode() if f else None
        if f:
            f.close()
    assert set(names) == {"bin", "bin/x", "etc", "etc/a", "etc/b", "new"}
    assert names["etc/a"] == "upper"
    assert names["etc/b"] == "lower"


def test_a_file_in_upper_hides_a_lower_directory(tmp_path: Path) -> None:
    lower = _tree(tmp_path / "lower", {"d/inner": "x"})
    upper = _tree(tmp_path / "upper", {"d": "now a file"})
    assert [n for n, _ in merged([upper, lower])] == ["d"]


def test_user_opaque_directory_hides_lower_content(tmp_path: Path) -> None:
    lower = _tree(tmp_path / "lower", {"d/old": "x"})
    upper = _tree(tmp_path / "upper", {"d/new": "y"})
    try:
        os.setxattr(upper / "d", "user.overlay.opaque", b"y")
    except OSError:
        unavailable("this filesystem has no user xattrs")
    assert [n for n, _ in merged([upper, lower])] == ["d", "d/new"]


def test_export_writes_a_sorted_tar_with_hardlinks(tmp_path: Path) -> None:
    layer = _tree(tmp_path / "l", {"b/f": "data", "a": "1"})
    os.link(layer / "b/f", layer / "b/g")
    os.symlink("b/f", layer / "s")
    buf = io.BytesIO()
    assert export([layer], buf) == 5
    buf.seek(0)
    with tarfile.open(fileobj=buf) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ["a", "b", "b/f", "b/g", "s"]
        assert members[3].islnk() and members[3].linkname == "b/f"
        assert members[4].issym() and members[4].linkname == "b/f"
        assert tar.extractfile("b/f").read() == b"data"  # type: ignore[union-attr]
