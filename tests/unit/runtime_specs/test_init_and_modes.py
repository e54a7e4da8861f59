"""--init's static init lookup, and the --pid/--ipc values (Docker 20.10's)."""

from __future__ import annotations

import pytest
from sbx.errors import InvalidArgument
from sbx.runtime import initbin
from sbx.runtime.spec import ContainerSpec, normalize_ipc, normalize_pid


def test_missing_static_init_names_the_package(monkeypatch, tmp_path):
    monkeypatch.setattr(initbin, "CANDIDATES", (str(tmp_path / "tini-static"),))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(initbin.InitNotFound) as e:
        initbin.find()
    assert "apt-get install tini" in e.value.one_line()
    assert len(e.value.one_line().splitlines()) == 1


def test_static_init_found_and_bound_read_only(monkeypatch, tmp_path):
    tini = tmp_path / "tini-static"
    tini.write_text("#!/bin/sh\n")
    tini.chmod(0o755)
    monkeypatch.setattr(initbin, "CANDIDATES", (str(tini),))
    assert initbin.find() == str(tini)
    m = initbin.mount(str(tini))
    assert (m.type, m.target, m.source, m.read_only) == ("bind", "/sbin/docker-init", str(tini), True)
    assert initbin.argv(("redis-server", "--port", "1")) == ["/sbin/docker-init", "--", "redis-server", "--port", "1"]


@pytest.mark.parametrize("value,want", [("", ""), ("host", "host")])
def test_pid_modes(value, want):
    assert normalize_pid(value) == want


@pytest.mark.parametrize("value", ["private", "container:", "Host", "bogus"])
def test_bad_pid_modes(value):
    with pytest.raises(InvalidArgument, match="--pid"):
        normalize_pid(value)


@pytest.mark.parametrize("value,want", [("", "private"), ("private", "private"), ("shareable", "shareable"),
                                        ("none", "none"), ("host", "host"), ("container:db", "container:db")])
def test_ipc_modes(value, want):
    assert normalize_ipc(value) == want


@pytest.mark.parametrize("value", ["container:", "shared", "bogus"])
def test_bad_ipc_modes(value):
    with pytest.raises(InvalidArgument, match="--ipc"):
        normalize_ipc(value)


def test_old_records_load_with_the_default_modes():
    spec = ContainerSpec.from_json({"image": "bb", "image_id": "sha256:" + "0" * 64, "argv": ["true"]})
    assert (spec.pid_mode, spec.ipc_mode) == ("", "private")
