"""Finding the cgroup v2 subtree delegated to an ordinary user (rootless mode)."""

from __future__ import annotations

from pathlib import Path

from sbx.cgroups import delegated_root, own_cgroup_v2

SERVICE = "/user.slice/user-1000.slice/user@1000.service"


def test_own_cgroup_is_the_unified_line() -> None:
    text = "12:pids:/x\n0::/user.slice/user-1000.slice/user@1000.service/app.slice/a.scope\n"
    assert own_cgroup_v2(text) == SERVICE + "/app.slice/a.scope"
    assert own_cgroup_v2("4:memory:/\n") == ""


def test_the_top_of_the_delegated_subtree_is_used() -> None:
    root = Path("/sys/fs/cgroup")
    writable = {root / SERVICE.strip("/"), root / (SERVICE.strip("/") + "/app.slice")}
    own = SERVICE + "/app.slice/a.scope"
    assert delegated_root(root, own, lambda p: p in writable) == root / SERVICE.strip("/")


def test_no_delegation_when_the_parent_is_not_ours() -> None:
    root = Path("/sys/fs/cgroup")
    own = "/user.slice/user-1000.slice/session-3.scope"
    assert delegated_root(root, own, lambda p: False) is None
