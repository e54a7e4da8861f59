"""``--device``: docker's syntax and defaults, and the host lookup (with /dev/null and a
fake tree: no root needed)."""

from __future__ import annotations

import os

import pytest
from sbx.cgroups.devices import DeviceRule
from sbx.errors import InvalidArgument
from sbx.runtime.devicespec import DeviceNode, parse_device, resolve, resolve_all
from sbx.runtime.spec import ContainerSpec, Device


@pytest.mark.parametrize(("text", "want"), [
    ("/dev/fuse", Device("/dev/fuse", "/dev/fuse", "rwm")),
    ("/dev/fuse:r", Device("/dev/fuse", "/dev/fuse", "r")),
    ("/dev/null:/dev/mynull", Device("/dev/null", "/dev/mynull", "rwm")),
    ("/dev/null:/dev/mynull:r", Device("/dev/null", "/dev/mynull", "r")),
    ("/dev/sda:/dev/xvda:rw", Device("/dev/sda", "/dev/xvda", "rw")),
    ("/dev/./fuse:/dev//f/:wr", Device("/dev/fuse", "/dev/f", "wr")),
])
def test_parse_as_the_docker_cli(text, want):
    assert parse_device(text) == want


@pytest.mark.parametrize(("text", "message"), [
    ("/a:/b:/c:/d", "bad format for path: /a:/b:/c:/d"),
    (":/dev/x", "bad format for path: :/dev/x"),
    ("/dev/null:/x:rwx", "bad mode specified: rwx"),
    ("/dev/null:/x:rr", "bad mode specified: rr"),
    ("/dev/null:/x:", "bad mode specified: "),
    ("fuse", "fuse is not an absolute path"),
    ("/dev/null:mynull", "mynull is not an absolute path"),
    ("/dev/null:/", "bad format for path: /dev/null:/"),
])
def test_bad_values_are_refused_with_dockers_words(text, message):
    with pytest.raises(InvalidArgument) as info:
        parse_device(text)
    assert info.value.message == message


def test_resolve_a_char_device_and_its_rule():
    (node,) = resolve(Device("/dev/null", "/dev/mynull", "r"))
    st = os.stat("/dev/null")
    assert node == DeviceNode("/dev/mynull", "/dev/null", "c", 1, 3, st.st_mode & 0o7777,
                              st.st_uid, st.st_gid, "r")
    assert node.rule() == DeviceRule("c", 1, 3, "r")


def test_symlinks_are_followed_and_directories_walked(tmp_path):
    (tmp_path / "link").symlink_to("/dev/null")
    (node,) = resolve(Device(str(tmp_path / "link"), "/dev/n"))
    assert (node.host_path, node.path, node.major, node.minor) == ("/dev/null", "/dev/n", 1, 3)
    d = tmp_path / "snd"
    (d / "sub").mkdir(parents=True)
    (d / "readme").write_text("not a device")
    (d / "sub" / "z").symlink_to("/dev/zero")   # links inside a directory are not devices
    with pytest.raises(InvalidArgument, match="not a device node"):
        resolve(Device(str(d), "/dev/snd"))
    nodes = resolve(Device("/dev/pts", "/dev/hostpts", "r")) if os.path.exists("/dev/pts/ptmx") else ()
    for n in nodes:
        assert n.path.startswith("/dev/hostpts/") and n.type == "c" and n.permissions == "r"


@pytest.mark.parametrize(("path", "reason"), [
    ("/nonexistent/dev", "no such file or directory"), ("/etc/hostname", "not a device node")])
def test_not_a_device_is_dockers_error(path, reason):
    with pytest.raises(InvalidArgument) as info:
        resolve_all((Device(path, "/dev/x"),))
    assert info.value.message == (
        f"error gathering device information while adding custom device {path!r}: {reason}")


def test_spec_round_trip_keeps_devices_and_old_records_load():
    spec = ContainerSpec("bb", "sha256:x", ("true",), devices=(Device("/dev/fuse", "/dev/fuse", "r"),))
    assert ContainerSpec.from_json(spec.to_json()) == spec
    old = spec.to_json()
    del old["devices"]
    assert ContainerSpec.from_json(old).devices == ()
