"""BootstrapSpec parsing and apt source discovery (no mmdebstrap run here)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sbx.errors import InvalidArgument
from sbx.images.bootstrap import DEFAULT_MIRRORS, BootstrapSpec, _mmdebstrap_cmd, apt_mirror


def test_debian_suite_tag_and_packages() -> None:
    spec = BootstrapSpec.parse("debian:bookworm", include=("curl,ca-certificates", "redis-server"),
                               mirror="http://m.example/debian", architecture="amd64")
    assert (spec.distro, spec.suite, spec.variant) == ("debian", "bookworm", "minbase")
    assert spec.tag == "docker.io/library/debian:bookworm"
    assert spec.include == ("curl", "ca-certificates", "redis-server")
    cmd = _mmdebstrap_cmd(spec)
    assert cmd[:2] == ["mmdebstrap", "--variant=minbase"]
    assert "--include=curl,ca-certificates,redis-server" in cmd
    assert cmd[-3:] == ["bookworm", "-", "deb http://m.example/debian bookworm main"]


def test_custom_tag_and_default_suite() -> None:
    spec = BootstrapSpec.parse("debian", tag="team/base:1", mirror="http://x/debian")
    assert spec.suite == "stable" and spec.tag == "docker.io/team/base:1"


@pytest.mark.parametrize("name", ["alpine:3", "ubuntu", "debian@sha256:" + "a" * 64])
def test_refuses_what_it_cannot_make(name: str) -> None:
    with pytest.raises(InvalidArgument):
        BootstrapSpec.parse(name, mirror="http://x/debian")


def test_refuses_bad_variant_and_package_names() -> None:
    with pytest.raises(InvalidArgument):
        BootstrapSpec.parse("debian:bookworm", variant="tiny", mirror="http://x")
    with pytest.raises(InvalidArgument):
        BootstrapSpec.parse("debian:bookworm", include="curl;rm -rf /", mirror="http://x")


def test_apt_mirror_from_deb822_and_one_line_sources(tmp_path: Path) -> None:
    d = tmp_path / "sources.list.d"
    d.mkdir()
    (d / "debian.sources").write_text(
        "Types: deb\nURIs: http://deb.example.org/debian-security\nSuites: bookworm-security\n\n"
        "Types: deb\nURIs: http://mirror.example.org/debian/\nSuites: bookworm\n")
    assert apt_mirror("debian", tmp_path) == "http://mirror.example.org/debian"
    (tmp_path / "sources.list").write_text("deb [arch=amd64] http://ubuntu.example/ubuntu jammy main\n")
    assert apt_mirror("ubuntu", tmp_path) == "http://ubuntu.example/ubuntu"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert apt_mirror("debian", empty) == DEFAULT_MIRRORS["debian"]
