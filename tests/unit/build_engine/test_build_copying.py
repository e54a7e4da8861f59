"""COPY/ADD layer tars written without a container, and image lookups over layer dirs."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from sbx.build.copying import Entry, Item, Owner, destination, parse_chmod, parse_chown, write_layer
from sbx.build.rootview import RootView
from sbx.errors import BuildError


@pytest.fixture
def view(tmp_path: Path) -> RootView:
    base = tmp_path / "l0"
    (base / "etc").mkdir(parents=True)
    (base / "etc" / "passwd").write_text("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n")
    (base / "etc" / "group").write_text("root:x:0:\nstaff:x:50:\n")
    (base / "srv").mkdir(mode=0o750)
    (base / "data").symlink_to("/srv")
    upper = tmp_path / "l1"
    (upper / "opt" / "tool").mkdir(parents=True)
    (upper / "opt" / "tool" / "bin").write_text("#!/bin/sh\n")
    return RootView([base, upper])


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def file_item(tmp_path: Path, name: str, data: str, mode: int = 0o644) -> Item:
    path = tmp_path / "src" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data)
    os.chmod(path, mode)
    return Item(name, False, (Entry("", os.stat(path), path),))


def layer(view: RootView, dest: str, items: list[Item], **kw: object) -> dict[str, tarfile.TarInfo]:
    out = io.BytesIO()
    opts = {"owner": None, "chmod": None, "multiple": len(items) > 1, "workdir": "/"} | kw
    write_layer(out, view, dest, opts.pop("workdir"), items, **opts)  # type: ignore[arg-type]
    return members(out.getvalue())


def test_destination_rules() -> None:
    assert destination("app/", "/srv") == "/srv/app/"
    assert destination(".", "/srv") == "/srv/"
    assert destination("/x/../y", "/srv") == "/y"


def test_file_to_new_path_existing_dir_and_trailing_slash(tmp_path: Path, view: RootView) -> None:
    item = file_item(tmp_path, "a.txt", "a", 0o600)
    assert set(layer(view, "/new/name.txt", [item])) == {"new", "new/name.txt"}
    got = layer(view, "/srv", [item])        # an existing directory in the image
    assert "srv/a.txt" in got and got["srv"].mode == 0o750  # parent keeps its metadata
    assert got["srv/a.txt"].mode == 0o600 and (got["srv/a.txt"].uid, got["srv/a.txt"].gid) == (0, 0)
    assert "data/a.txt" not in layer(view, "/data/", [item])   # a link in the image is followed
    assert "srv/a.txt" in layer(view, "/data/", [item])


def test_several_sources_need_a_directory_destination(tmp_path: Path, view: RootView) -> None:
    items = [file_item(tmp_path, "a", "a"), file_item(tmp_path, "b", "b")]
    with pytest.raises(BuildError, match="must be a directory and end with a /"):
        layer(view, "/dest", items)
    assert {"dest/a", "dest/b"} <= set(layer(view, "/dest/", items))


def test_directory_sources_copy_their_contents(tmp_path: Path, view: RootView) -> None:
    src = tmp_path / "tree"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "f").write_text("f")
    entries = (Entry("sub", os.lstat(src / "sub"), src / "sub"),
               Entry("sub/f", os.lstat(src / "sub" / "f"), src / "sub" / "f"))
    got = layer(view, "/app", [Item("tree", True, entries)], owner=Owner(7, 8), chmod=0o700)
    assert {"app", "app/sub", "app/sub/f"} == set(got)
    assert (got["app/sub/f"].uid, got["app/sub/f"].gid, got["app/sub/f"].mode) == (7, 8, 0o700)
    assert (got["app"].uid, got["app"].gid) == (7, 8)   # created with the --chown owner


def test_heredoc_items_and_archives(tmp_path: Path, view: RootView) -> None:
    got = layer(view, "/etc/motd", [Item("EOF", False, (Entry("", data=b"hello\n"),))])
    assert got["etc/motd"].size == 6 and got["etc/motd"].mode == 0o644
    archive = tmp_path / "a.tar"
    with tarfile.open(archive, "w") as tar:
        ti = tarfile.TarInfo("../../escape/inner.txt")
        ti.size = 1
        tar.addfile(ti, io.BytesIO(b"x"))
    got = layer(view, "/opt/", [Item("a.tar", False, (Entry("", os.stat(archive), archive),),
                                     archive=True)])
    assert "opt/escape/inner.txt" in got and not any(".." in n for n in got)


def test_chown_and_chmod_parsing(view: RootView) -> None:
    assert parse_chown("app", view) == Owner(1000, 1000)
    assert parse_chown("app:staff", view) == Owner(1000, 50)
    assert parse_chown("12:34", view) == Owner(12, 34)
    assert parse_chown(None, view) is None
    with pytest.raises(BuildError, match="unable to find user nobody"):
        parse_chown("nobody", view)
    with pytest.raises(BuildError, match="unable to find group wheel"):
        parse_chown("app:wheel", view)
    assert parse_chmod("755") == 0o755 and parse_chmod(None) is None
    with pytest.raises(BuildError, match="invalid --chmod"):
        parse_chmod("u+x")


def test_rootview_merges_layers_and_resolves_links(view: RootView) -> None:
    assert view.is_dir("/srv") and view.is_dir("/data") and view.is_dir("/")
    assert view.exists("/opt/tool/bin") and not view.exists("/opt/none")
    assert view.resolve("/data/x")[0] == "/srv/x"
    assert view.listdir("/") == ["data", "etc", "opt", "srv"]
    assert [rel for rel, _, _ in view.walk("/opt")] == ["tool", "tool/bin"]
    assert view.read("/etc/group", 5) == b"root:"


def test_rootview_honours_whiteouts(tmp_path: Path, view: RootView) -> None:
    top = tmp_path / "l2"
    (top / "etc").mkdir(parents=True)
    os.mknod(top / "etc" / "group", 0o020000, os.makedev(0, 0))
    merged = RootView([*reversed(view.layers), top])
    assert not merged.exists("/etc/group") and merged.exists("/etc/passwd")
    assert "group" not in merged.listdir("/etc")
