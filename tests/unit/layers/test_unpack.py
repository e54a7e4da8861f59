"""End-to-end unpacking of ordinary and hostile layer tars built in memory."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
from pathlib import Path

import pytest
from sbx.errors import StoreError, UnsafeLayer
from sbx.layers import Compression, WhiteoutMode
from sbx.layers.unpack import unpack

from tests.needs import unavailable

from .tarbuild import Entry, build, chr_dev, d, f, hard, sym

IS_ROOT = os.geteuid() == 0


def run(tmp_path: Path, data: bytes, **kw: object) -> Path:
    dest = tmp_path / "root"
    kw.setdefault("whiteouts", WhiteoutMode.KEEP)
    unpack(io.BytesIO(data), dest, **kw)  # type: ignore[arg-type]
    return dest


def test_digests_and_sizes(tmp_path: Path) -> None:
    data = build(d("etc"), f("etc/hostname", b"box\n"), f("bin/sh", b"#!" * 100, 0o755))
    info = unpack(io.BytesIO(data), tmp_path / "r")
    assert str(info.diff_id) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert info.size == len(data)
    assert info.content_size == 4 + 200
    assert info.compressed_digest == info.diff_id and info.compression is Compression.NONE
    assert (tmp_path / "r/etc/hostname").read_bytes() == b"box\n"
    assert stat.S_IMODE((tmp_path / "r/bin/sh").stat().st_mode) == 0o755


def test_gzip_digests(tmp_path: Path) -> None:
    data = build(f("a", b"hello"))
    gz = gzip.compress(data)
    info = unpack(io.BytesIO(gz), tmp_path / "r")
    assert info.compression is Compression.GZIP
    assert info.diff_id.hex == hashlib.sha256(data).hexdigest()
    assert info.compressed_digest.hex == hashlib.sha256(gz).hexdigest()
    assert info.compressed_size == len(gz)


def test_path_source(tmp_path: Path) -> None:
    p = tmp_path / "layer.tar"
    p.write_bytes(build(f("x", b"1")))
    unpack(p, tmp_path / "r")
    assert (tmp_path / "r/x").read_bytes() == b"1"


def test_absolute_names_become_relative(tmp_path: Path) -> None:
    dest = run(tmp_path, build(f("/etc/x", b"inside")))
    assert (dest / "etc/x").read_bytes() == b"inside"


def test_dotdot_rejected(tmp_path: Path) -> None:
    with pytest.raises(UnsafeLayer, match=r"'\.\./\.\./etc/passwd'.*'\.\.'"):
        run(tmp_path, build(f("../../etc/passwd", b"pwned")))
    assert not (tmp_path.parent / "etc/passwd").exists()


def test_symlink_text_kept_but_never_followed(tmp_path: Path) -> None:
    # evil -> / is a fine symlink (resolved inside the container) ...
    dest = run(tmp_path, build(sym("evil", "/"), sym("abs", "/etc/passwd")))
    assert os.readlink(dest / "evil") == "/"
    assert os.readlink(dest / "abs") == "/etc/passwd"


def test_member_through_symlink_rejected(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    with pytest.raises(UnsafeLayer, match="'evil/x'.*symlink 'evil'"):
        run(tmp_path, build(sym("evil", str(outside)), f("evil/x", b"pwned")))
    assert not (outside / "x").exists()


def test_member_through_relative_symlink_rejected(tmp_path: Path) -> None:
    with pytest.raises(UnsafeLayer, match="symlink"):
        run(tmp_path, build(d("a"), sym("a/up", "../.."), f("a/up/escaped", b"x")))
    assert not (tmp_path / "escaped").exists()


def test_file_replaces_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"original")
    dest = run(tmp_path, build(sym("passwd", str(victim)), f("passwd", b"new")))
    assert victim.read_bytes() == b"original"
    assert not (dest / "passwd").is_symlink()
    assert (dest / "passwd").read_bytes() == b"new"


def test_directory_replaces_symlink_dir(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = run(tmp_path, build(sym("lib", str(outside)), d("lib"), f("lib/x", b"1")))
    assert (dest / "lib").is_dir() and not (dest / "lib").is_symlink()
    assert (dest / "lib/x").read_bytes() == b"1"
    assert list(outside.iterdir()) == []


def test_symlink_replacing_directory_gets_no_late_chmod(tmp_path: Path) -> None:
    # A directory entry whose attributes would be applied at the end, then replaced by a
    # symlink to the outside: the late chmod must not follow the symlink.
    outside = tmp_path / "outside"
    outside.mkdir(mode=0o755)
    dest = run(tmp_path, build(d("d", 0o777), sym("d", str(outside))))
    assert (dest / "d").is_symlink()
    assert stat.S_IMODE(outside.stat().st_mode) == 0o755


def test_hardlink_to_outside_rejected(tmp_path: Path) -> None:
    with pytest.raises(UnsafeLayer, match="hardlink target 'etc/shadow' is not in the layer"):
        run(tmp_path, build(hard("shadow", "/etc/shadow")))


def test_hardlink_through_symlink_rejected(tmp_path: Path) -> None:
    with pytest.raises(UnsafeLayer, match="symlink 'etc'"):
        run(tmp_path, build(sym("etc", "/etc"), hard("shadow", "etc/shadow")))


def test_hardlink_to_symlink_rejected(tmp_path: Path) -> None:
    with pytest.raises(UnsafeLayer, match="is a symlink"):
        run(tmp_path, build(sym("s", "/etc/shadow"), hard("h", "s")))


def test_hardlink_inside_layer(tmp_path: Path) -> None:
    data = build(f("a", b"data"), hard("b", "a"), hard("c", "/a"))
    info = unpack(io.BytesIO(data), tmp_path / "r")
    r = tmp_path / "r"
    assert (r / "a").stat().st_ino == (r / "b").stat().st_ino == (r / "c").stat().st_ino
    assert info.content_size == 4


def test_later_file_does_not_modify_hardlinked_twin(tmp_path: Path) -> None:
    dest = run(tmp_path, build(f("a", b"one"), hard("b", "a"), f("b", b"two")))
    assert (dest / "a").read_bytes() == b"one"
    assert (dest / "b").read_bytes() == b"two"


def test_parent_that_is_a_file_rejected(tmp_path: Path) -> None:
    with pytest.raises(UnsafeLayer, match="not a directory"):
        run(tmp_path, build(f("a", b"x"), f("a/b", b"y")))


def test_setuid_dropped_unless_requested(tmp_path: Path) -> None:
    data = build(f("su", b"x", 0o4755), f("wall", b"x", 0o2755))
    dest = run(tmp_path, data)
    assert stat.S_IMODE((dest / "su").stat().st_mode) == 0o755
    assert stat.S_IMODE((dest / "wall").stat().st_mode) == 0o755
    kept = tmp_path / "kept"
    unpack(io.BytesIO(data), kept, keep_special_bits=True, whiteouts=WhiteoutMode.KEEP)
    assert stat.S_IMODE((kept / "su").stat().st_mode) == 0o4755


def test_directory_modes_applied_last(tmp_path: Path) -> None:
    dest = run(tmp_path, build(d("ro", 0o555), f("ro/file", b"x"), d("tmp", 0o1777)))
    assert stat.S_IMODE((dest / "ro").stat().st_mode) == 0o555
    assert (dest / "ro/file").read_bytes() == b"x"
    assert stat.S_IMODE((dest / "tmp").stat().st_mode) == 0o1777
    os.chmod(dest / "ro", 0o755)


def test_root_entry_sets_root_mode(tmp_path: Path) -> None:
    dest = run(tmp_path, build(d("./", 0o751), f("x")))
    assert stat.S_IMODE(dest.stat().st_mode) == 0o751


@pytest.mark.root_only("ownership is only preserved as root")
def test_ownership_preserved_as_root(tmp_path: Path) -> None:
    dest = run(tmp_path, build(d("home/u", uid=1000, gid=1000), f("home/u/f", uid=1000, gid=100),
                               sym("home/u/l", "f")))
    assert (dest / "home/u").stat().st_uid == 1000
    st = (dest / "home/u/f").stat()
    assert (st.st_uid, st.st_gid) == (1000, 100)


@pytest.mark.root_only("creating device nodes needs CAP_MKNOD")
def test_device_nodes_created_as_root(tmp_path: Path) -> None:
    dest = run(tmp_path, build(d("dev"), chr_dev("dev/null", 1, 3)))
    st = (dest / "dev/null").lstat()
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3


@pytest.mark.rootless_only
def test_device_nodes_skipped_without_mknod(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    dest = run(tmp_path, build(d("dev"), chr_dev("dev/null", 1, 3), f("after")))
    assert not (dest / "dev/null").exists() and (dest / "after").exists()
    assert "skipped 1 device node(s) of the layer (dev/null)" in caplog.text


def test_fifo(tmp_path: Path) -> None:
    dest = run(tmp_path, build(Entry("p", b"6", mode=0o600)))
    assert stat.S_ISFIFO((dest / "p").lstat().st_mode)


def test_whiteouts_kept_as_files(tmp_path: Path) -> None:
    dest = run(tmp_path, build(d("a"), f("a/.wh.gone", b""), f("a/.wh..wh..opq", b"")),
               whiteouts=WhiteoutMode.KEEP)
    assert (dest / "a/.wh.gone").is_file() and (dest / "a/.wh..wh..opq").is_file()


def test_whiteouts_applied(tmp_path: Path) -> None:
    dest = tmp_path / "root"
    unpack(io.BytesIO(build(d("a"), f("a/old", b"1"), f("a/keep", b"k"), d("o"), f("o/lower", b"l"),
                            f("gone", b"g"))), dest, whiteouts=WhiteoutMode.APPLY)
    # The upper layer deletes a/old and gone, and makes o opaque but brings o/new.
    unpack(io.BytesIO(build(f("a/.wh.old", b""), f(".wh.gone", b""), f("o/new", b"n"),
                            f("o/.wh..wh..opq", b""))), dest, whiteouts=WhiteoutMode.APPLY)
    assert not (dest / "a/old").exists() and (dest / "a/keep").exists()
    assert not (dest / "gone").exists()
    assert sorted(p.name for p in (dest / "o").iterdir()) == ["new"]
    assert not list(dest.rglob(".wh.*"))


def test_whiteout_cannot_escape(tmp_path: Path) -> None:
    with pytest.raises(UnsafeLayer):
        run(tmp_path, build(f("../.wh.victim", b"")), whiteouts=WhiteoutMode.APPLY)
    with pytest.raises(UnsafeLayer, match="symlink"):
        run(tmp_path, build(sym("s", str(tmp_path)), f("s/.wh.victim", b"")),
            whiteouts=WhiteoutMode.APPLY)


def test_not_a_tar(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="not a tar archive|corrupt"):
        unpack(io.BytesIO(b"this is not a tar archive at all" * 40), tmp_path / "r")


def test_truncated_gzip(tmp_path: Path) -> None:
    gz = gzip.compress(build(f("a", b"x" * 100_000)))
    with pytest.raises(StoreError, match="truncated|ends early|corrupt"):
        unpack(io.BytesIO(gz[: len(gz) // 2]), tmp_path / "r")


def test_xattr_from_pax(tmp_path: Path) -> None:
    dest = tmp_path / "r"
    dest.mkdir()
    try:
        os.setxattr(dest, "user.probe", b"1")
    except OSError:
        unavailable("this filesystem has no user xattrs")
    unpack(io.BytesIO(build(f("x", pax={"SCHILY.xattr.user.tag": "v",
                                        "SCHILY.xattr.trusted.overlay.opaque": "y"}))), dest)
    assert os.getxattr(dest / "x", "user.tag") == b"v"
    with pytest.raises(OSError):
        os.getxattr(dest / "x", "trusted.overlay.opaque")
