"""--userns=auto's pure logic: the flag, the pool, first fit, and allocation under the lock
(concurrent allocations never overlap; rm frees; stale entries are dropped)."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest
from sbx.errors import InvalidArgument, SbxError
from sbx.runtime import userns_auto as ua
from sbx.runtime.idmapped import tmpfs_options, wanted
from sbx.runtime.mountspec import parse_volume


def test_parse() -> None:
    assert not ua.parse("").auto and not ua.parse("host").auto
    assert ua.parse("auto") == ua.UsernsMode("auto", 65536)
    assert ua.parse("auto:size=1024") == ua.UsernsMode("auto", 1024)
    assert ua.parse("auto:size=1024").shown() == "auto:size=1024"
    assert ua.parse("auto").shown() == "auto" and ua.parse("host").shown() == ""
    for bad in ("keep-id", "auto:size=0", "auto:size=x", "auto:uidmapping=0:1:2", "ns:/proc/1/ns/user"):
        with pytest.raises(InvalidArgument):
            ua.parse(bad)


def test_pool_prefers_the_containers_entry() -> None:
    u, g, where = ua.pool("alice:100000:65536\ncontainers:300000:200000\n", "containers:400000:131072\n")
    assert u == [(300000, 200000)] and g == [(400000, 131072)] and "containers" in where


def test_default_pool_leaves_out_other_users_ranges() -> None:
    start, count = ua.DEFAULT_POOL
    u, g, where = ua.pool(f"bob:{start + 10}:20\n# c\n", "")
    assert u == [(start, 10), (start + 30, count - 30)] and g == [ua.DEFAULT_POOL]
    assert "default pool" in where


def test_first_fit() -> None:
    assert ua.first_fit([(1000, 300)], [], 100) == 1000
    assert ua.first_fit([(1000, 300)], [(1000, 100)], 100) == 1100
    assert ua.first_fit([(1000, 300)], [(1050, 10)], 100) == 1060
    assert ua.first_fit([(1000, 300)], [(1000, 250)], 100) is None
    assert ua.first_fit([(0, 50), (1000, 300)], [], 100) == 1000


def _store(tmp: Path, cid: str) -> None:
    (tmp / "store" / "containers" / cid).mkdir(parents=True, exist_ok=True)
    (tmp / "store" / "containers" / cid / "config.json").write_text("{}")


def test_allocate_release_and_reuse(tmp_path: Path) -> None:
    sub = tmp_path / "subuid"
    sub.write_text("containers:1000000:300000\n")
    kw = dict(subuid=str(sub), subgid=str(sub), reg=tmp_path)
    root = tmp_path / "store"
    a = ua.allocate(root, "a", 65536, **kw)
    _store(tmp_path, "a")
    b = ua.allocate(root, "b", 1000, **kw)
    _store(tmp_path, "b")
    assert a == (((0, 1000000, 65536),), ((0, 1000000, 65536),))
    assert b[0] == ((0, 1065536, 1000),)
    ua.release("a", reg=tmp_path)
    assert set(ua.held(reg=tmp_path)) == {"b"}
    assert ua.allocate(root, "c", 65536, **kw)[0] == ((0, 1000000, 65536),)
    with pytest.raises(SbxError, match="no free range"):
        ua.allocate(root, "d", 300000, **kw)


def test_entries_without_their_container_go_stale(tmp_path: Path) -> None:
    sub = tmp_path / "subuid"
    sub.write_text("containers:1000000:65536\n")
    kw = dict(subuid=str(sub), subgid=str(sub), reg=tmp_path)
    ua.allocate(tmp_path / "store", "gone", 65536, **kw)   # never got its config.json
    data = json.loads((tmp_path / "userns-auto.json").read_text())
    data["gone"]["t"] = time.time() - ua.STALE_SECONDS - 1
    (tmp_path / "userns-auto.json").write_text(json.dumps(data))
    assert ua.allocate(tmp_path / "store", "new", 65536, **kw)[0] == ((0, 1000000, 65536),)
    assert set(ua.held(reg=tmp_path)) == {"new"}


def _worker(args: tuple[str, str]) -> tuple[int, int]:
    reg, cid = args
    sub = str(Path(reg) / "subuid")
    m = ua.allocate(Path(reg) / "store", cid, 65536, subuid=sub, subgid=sub, reg=Path(reg))
    return m[0][0][1], m[1][0][1]


def test_concurrent_allocations_never_overlap(tmp_path: Path) -> None:
    (tmp_path / "subuid").write_text(f"containers:{2**31}:{2**30}\n")
    with multiprocessing.get_context("fork").Pool(8) as p:
        got = p.map(_worker, [(str(tmp_path), f"c{i}") for i in range(16)])
    starts = sorted(u for u, _ in got)
    assert len(set(starts)) == 16
    assert all(b - a >= 65536 for a, b in zip(starts, starts[1:], strict=False))
    assert len(ua.held(reg=tmp_path)) == 16


def test_idmapped_mount_choice_and_tmpfs_owner() -> None:
    assert wanted("volume", "") and wanted("bind", "idmap") and not wanted("bind", "")
    assert not wanted("tmpfs", "idmap")
    assert tmpfs_options("mode=1777", (5, 6)) == "mode=1777,uid=5,gid=6"
    assert tmpfs_options("uid=1", (5, 6)) == "uid=1,gid=6"
    assert parse_volume("/a:/b:idmap,ro").idmap  # type: ignore[union-attr]
    with pytest.raises(InvalidArgument):
        parse_volume("vol:/b:idmap")


def test_spec_keeps_the_maps() -> None:
    from sbx.runtime.spec import ContainerSpec

    s = ContainerSpec("bb", "sha256:x", ("true",), userns="auto", uid_map=((0, 5, 6),),
                      gid_map=((0, 7, 8),))
    back = ContainerSpec.from_json(json.loads(s.dumps()))
    assert back == s
    assert ContainerSpec.from_json({"image": "bb", "image_id": "x", "argv": ["true"]}).uid_map == ()


def test_inside_id() -> None:
    lines = ((0, 2**31, 65536),)
    assert ua.inside_id(lines, 2**31) == 0 and ua.inside_id(lines, 2**31 + 1000) == 1000
    assert ua.inside_id(lines, 0) == 0 and ua.inside_id(lines, 2**31 + 65536) == 2**31 + 65536


def test_auto_is_refused_in_rootless_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    from sbx.rootless import idmap

    monkeypatch.setattr(idmap, "current", lambda: idmap.Mode(1000, 1000, True, True))
    with pytest.raises(InvalidArgument, match="needs root mode"):
        ua.check_mode(ua.parse("auto"))
    ua.check_mode(ua.parse("host"))
