"""Table-driven tests of the pure member-policy passes (no disk involved)."""

from __future__ import annotations

import stat
import tarfile

import pytest
from sbx.errors import UnsafeLayer
from sbx.layers import safety
from sbx.layers.safety import Policy

from .tarbuild import tarinfo

DEFAULT = Policy()


@pytest.mark.parametrize(("name", "expected"), [
    ("etc/passwd", "etc/passwd"),
    ("/etc/x", "etc/x"),                 # absolute made relative
    ("./usr/bin/sh", "usr/bin/sh"),
    ("//a///b/", "a/b"),
    (".", "."),
    ("./", "."),
    ("/", "."),
    ("a/./b", "a/b"),
    (".wh.foo", ".wh.foo"),
])
def test_normalize_name_accepts(name: str, expected: str) -> None:
    out = safety.normalize_name(tarinfo(name), DEFAULT)
    assert out is not None and out.name == expected


@pytest.mark.parametrize("name", [
    "../../etc/passwd",
    "/../etc/passwd",
    "a/../../b",
    "a/../b",          # stays inside lexically, but a layer has no business with '..'
    "..",
    "a/b/..",
    "a\x00b",
])
def test_normalize_name_rejects(name: str) -> None:
    with pytest.raises(UnsafeLayer) as exc:
        safety.normalize_name(tarinfo(name), DEFAULT)
    assert repr(name) in str(exc.value) or "NUL" in str(exc.value)


@pytest.mark.parametrize(("type_", "ok"), [
    (tarfile.REGTYPE, True), (tarfile.AREGTYPE, True), (tarfile.DIRTYPE, True),
    (tarfile.SYMTYPE, True), (tarfile.LNKTYPE, True), (tarfile.CHRTYPE, True),
    (tarfile.BLKTYPE, True), (tarfile.FIFOTYPE, True), (tarfile.CONTTYPE, True),
    (b"V", False),  # GNU volume header
    (b"Z", False),  # unknown
])
def test_check_type(type_: bytes, ok: bool) -> None:
    ti = tarinfo("x", type_)
    if ok:
        assert safety.check_type(ti, DEFAULT) is ti
    else:
        with pytest.raises(UnsafeLayer, match="unsupported tar entry type"):
            safety.check_type(ti, DEFAULT)


def test_check_type_root_must_be_dir() -> None:
    with pytest.raises(UnsafeLayer, match="root must be a directory"):
        safety.check_type(tarinfo("."), DEFAULT)


@pytest.mark.parametrize(("type_", "name", "link", "expected"), [
    (tarfile.LNKTYPE, "b", "a", "a"),
    (tarfile.LNKTYPE, "b", "/etc/shadow", "etc/shadow"),   # made layer-relative
    (tarfile.LNKTYPE, "b", "./x/y", "x/y"),
    (tarfile.SYMTYPE, "evil", "/", "/"),                    # symlink text is left alone
    (tarfile.SYMTYPE, "l", "../../../../etc", "../../../../etc"),
])
def test_normalize_link_accepts(type_: bytes, name: str, link: str, expected: str) -> None:
    out = safety.normalize_link(tarinfo(name, type_, linkname=link), DEFAULT)
    assert out is not None and out.linkname == expected


@pytest.mark.parametrize(("name", "link", "reason"), [
    ("b", "../../etc/shadow", "'..'"),
    ("b", "/", "layer root"),
    ("b", "b", "itself"),
])
def test_normalize_link_rejects_hardlinks(name: str, link: str, reason: str) -> None:
    with pytest.raises(UnsafeLayer, match=reason):
        safety.normalize_link(tarinfo(name, tarfile.LNKTYPE, linkname=link), DEFAULT)


def test_empty_symlink_rejected() -> None:
    with pytest.raises(UnsafeLayer, match="empty target"):
        safety.normalize_link(tarinfo("s", tarfile.SYMTYPE, linkname=""), DEFAULT)


@pytest.mark.parametrize(("type_", "allow", "kept"), [
    (tarfile.CHRTYPE, True, True),
    (tarfile.CHRTYPE, False, False),
    (tarfile.BLKTYPE, False, False),
    (tarfile.FIFOTYPE, False, True),   # fifos need no privilege
    (tarfile.REGTYPE, False, True),
])
def test_device_policy(type_: bytes, allow: bool, kept: bool,
                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    out = safety.device_policy(tarinfo("dev/x", type_), Policy(allow_devices=allow))
    assert (out is not None) is kept
    if not kept:
        assert "skipping device node dev/x" in caplog.text


@pytest.mark.parametrize(("type_", "mode", "keep", "expected"), [
    (tarfile.REGTYPE, 0o4755, False, 0o755),    # setuid dropped
    (tarfile.REGTYPE, 0o2755, False, 0o755),    # setgid dropped on files
    (tarfile.REGTYPE, 0o4755, True, 0o4755),    # kept on request
    (tarfile.REGTYPE, 0o6711, True, 0o6711),
    (tarfile.DIRTYPE, 0o1777, False, 0o1777),   # sticky /tmp kept
    (tarfile.DIRTYPE, 0o2775, False, 0o2775),   # setgid dir kept (group inheritance only)
    (tarfile.REGTYPE, 0o666, False, 0o666),     # world-writable kept: it is the image's choice
])
def test_mode_policy(type_: bytes, mode: int, keep: bool, expected: int) -> None:
    out = safety.mode_policy(tarinfo("x", type_, mode=mode), Policy(keep_special_bits=keep))
    assert out is not None and out.mode == expected


def test_owner_policy() -> None:
    ti = tarinfo("x")
    ti.uid, ti.gid, ti.uname = 1000, 1000, "alice"
    assert safety.owner_policy(ti, Policy(preserve_owner=True)) is ti
    out = safety.owner_policy(ti, Policy(preserve_owner=False))
    assert out is not None and out.uid is None and out.gid is None


def test_apply_passes_in_order() -> None:
    ti = tarinfo("/usr/bin/su", mode=0o4755)
    out = safety.apply_passes(ti, DEFAULT)
    assert out is not None and out.name == "usr/bin/su" and stat.S_IMODE(out.mode) == 0o755
    dev = tarinfo("/dev/null", tarfile.CHRTYPE)
    assert safety.apply_passes(dev, Policy(allow_devices=False)) is None


@pytest.mark.parametrize(("key", "kept"), [
    ("SCHILY.xattr.security.capability", True),
    ("SCHILY.xattr.user.mime", True),
    ("SCHILY.xattr.trusted.overlay.opaque", False),    # must not be forged by a layer
    ("SCHILY.xattr.user.overlay.redirect", False),
    ("SCHILY.xattr.security.selinux", False),
    ("comment", False),
])
def test_xattrs_of(key: str, kept: bool) -> None:
    ti = tarinfo("x")
    ti.pax_headers = {key: "v"}
    assert bool(safety.xattrs_of(ti)) is kept
