"""Plugin logic without containers: marker parsing, start order, wait strategies' parsing
and socket-table reading, the catalog, settings, owners and the xdist registry."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_sandbox import wait
from pytest_sandbox.catalog import Catalog, Service
from pytest_sandbox.markers import ContainerRequest, MarkerError
from pytest_sandbox.reaper import Owner
from pytest_sandbox.scopes import SharedRegistry


def test_request_from_args_normalises_options():
    r = ContainerRequest.from_args("redis:7", env={"A": 1}, command="echo hi", ports=["6379/tcp", 80],
                                   volumes={"/data": "/d:ro", "vol": "/v"}, memory="64m")
    assert r.name == "redis" and r.env == (("A", "1"),) and r.command == ("sh", "-c", "echo hi")
    assert r.ports == (6379, 80) and r.volumes == (("/data", "/d:ro"), ("vol", "/v"))
    assert ContainerRequest.from_args("ghcr.io/x/app@sha256:ab").name == "app"
    assert ContainerRequest.from_args("x", env=["K=V"]).env == (("K", "V"),)


@pytest.mark.parametrize("kw, msg", [
    ({"colour": 1}, "unknown option(s) colour"),
    ({"scope": "forever"}, "scope 'forever' is not one of"),
    ({"env": ["NOEQUALS"]}, "is not KEY=VALUE"),
    ({"ports": ["http"]}, "port 'http' is not a number"),
])
def test_bad_marker_options(kw, msg):
    with pytest.raises(MarkerError, match=msg.replace("(", r"\(").replace(")", r"\)")):
        ContainerRequest.from_args("bb", **kw)


def test_request_key_is_stable_and_distinguishes():
    a = ContainerRequest.from_args("bb", env={"A": "1"})
    assert a.key() == ContainerRequest.from_args("bb", env={"A": "1"}).key()
    assert a.key() != ContainerRequest.from_args("bb", env={"A": "2"}).key()


def test_start_order_puts_network_owners_first(pytester):
    pytester.makepyfile("""
        import pytest
        from pytest_sandbox.markers import requests_for

        pytestmark = pytest.mark.container("bb", name="mod")

        @pytest.mark.container("bb", name="client", network="container:server")
        @pytest.mark.container("bb", name="server")
        def test_x(request):
            assert [r.name for r in requests_for(request.node)] == ["mod", "server", "client"]
    """)
    pytester.runpytest("-p", "no:sandbox", "-p", "pytest_sandbox.markers").assert_outcomes(passed=1)


@pytest.mark.parametrize("text, expected", [
    ("port", wait.Port((8080,))), ("port:99", wait.Port((99,))), (5432, wait.Port((5432,))),
    ("log:ready.*", wait.Log("ready.*")), ("cmd:true", wait.Command(("sh", "-c", "true"))),
    ("http:8080/health", wait.Http(8080, "/health")), ("http:/", wait.Http(8080, "/")),
    ("healthcheck", wait.Healthcheck()), ("none", None), (None, None),
])
def test_wait_parse(text, expected):
    assert wait.parse(text, (8080,)) == expected


def test_wait_parse_rejects_nonsense():
    with pytest.raises(wait.NotReady, match="unknown wait strategy"):
        wait.parse("soon")


def test_listening_ports_reads_this_process_namespace():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert s.getsockname()[1] in wait.listening_ports(os.getpid())
    assert wait.listening_ports(2**22 + 12345) == set()


class FakeTarget:
    name = alias = "svc"
    pid = 0

    def __init__(self, ready_after: int = 0, exits: bool = False) -> None:
        self.polls, self.ready_after, self.exits = 0, ready_after, exits

    def running(self) -> bool:
        return not self.exits

    def logs(self) -> str:
        return "line 1\nfatal: no config\n"


class Counting(wait.Strategy):
    def check(self, target):  # type: ignore[no-untyped-def]
        target.polls += 1
        return target.polls > target.ready_after


def test_wait_loop_polls_fast_and_stops_on_exit():
    t = FakeTarget(ready_after=20)
    assert wait.wait_until_ready(Counting(), t, 5) < 0.25
    with pytest.raises(wait.NotReady, match="(?s)exited before it was ready.*fatal: no config"):
        wait.wait_until_ready(Counting(), FakeTarget(exits=True), 5)
    with pytest.raises(wait.NotReady, match="not ready after 0.05s"):
        wait.wait_until_ready(Counting(), FakeTarget(ready_after=10**9), 0.05)


def test_catalog_aliases_and_plugins_override():
    cat = Catalog.default([[Service("redis", "valkey:8", 6379)], [Service("kafka", "kafka:3", 9092)]])
    assert cat.get("postgresql") is cat.get("postgres")
    assert cat.get("redis").image == "valkey:8" and cat.get("kafka").port == 9092
    assert cat.get("nope") is None
    pg = cat.get("postgres")
    assert pg.format_url("127.0.0.1", 5, dict(pg.env)) == "postgresql://postgres:postgres@127.0.0.1:5/postgres"
    assert cat.get("mongo").recipe is None and cat.get("redis").recipe is None
    assert (Catalog.default().get("redis").recipe / "Dockerfile").is_file()


def test_owner_start_time_detects_reuse():
    me = Owner.of(os.getpid())
    assert me.alive()
    assert not Owner(os.getpid(), (me.start or 0) + 1).alive()
    labels = dict(me.labels("run1"))
    assert Owner.from_labels(labels) == me and Owner.from_labels({}) is None


def test_shared_registry_refcounts(tmp_path: Path):
    reg = SharedRegistry(tmp_path, "uid", Owner.of(os.getpid()))
    started, removed = [], []
    start = lambda: started.append(1) or "cid1"  # noqa: E731
    assert reg.acquire("k", "gw0", start, lambda c: True) == "cid1"
    assert reg.acquire("k", "gw1", start, lambda c: True) == "cid1"
    assert len(started) == 1
    reg.release("k", "gw0", removed.append)
    assert removed == []
    reg.release("k", "gw1", removed.append)
    assert removed == ["cid1"]
    reg.acquire("k", "gw0", start, lambda c: False)
    reg.remove_all(removed.append)
    assert removed == ["cid1", "cid1"] and not reg.dir.exists()


def test_settings_validation(pytester):
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest("--sandbox-timeout", "0")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*--sandbox-timeout must be positive*"])
