"""What a container sees at /sys/fs/cgroup, planned from the host's cgroup mounts."""

from __future__ import annotations

from pathlib import Path

from sbx.cgroups.mode import mounts_under
from sbx.runtime.cgroupview import CgroupView, Hierarchy, own_paths, plan

V1_HOST = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/net_cls,net_prio rw,relatime - cgroup cgroup rw,net_cls,net_prio
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
"""
V2_HOST = "31 23 0:28 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw,nsdelegate\n"
ROOT = Path("/sys/fs/cgroup")


def test_v1_one_directory_per_hierarchy_and_docker_links() -> None:
    view = plan(mounts_under(ROOT, V1_HOST))
    by_name = {h.name: h for h in view.hierarchies}
    assert sorted(by_name) == ["cpu,cpuacct", "cpuset", "memory", "net_cls,net_prio",
                               "systemd", "unified"]
    assert by_name["cpu,cpuacct"].options == "cpu,cpuacct"
    assert by_name["systemd"].options == "name=systemd"
    assert by_name["systemd"].controllers == ("name=systemd",)
    assert by_name["unified"].fstype == "cgroup2"
    assert by_name["memory"].target == "/sys/fs/cgroup/memory"
    assert set(view.links) == {("cpu", "cpu,cpuacct"), ("cpuacct", "cpu,cpuacct"),
                               ("net_cls", "net_cls,net_prio"), ("net_prio", "net_cls,net_prio")}
    assert not view.unified and view.cgroupns == "private" and not view.writable


def test_v2_is_one_cgroup2_mount_on_the_root() -> None:
    view = plan(mounts_under(ROOT, V2_HOST), cgroupns="host", privileged=True)
    assert view.unified
    assert view.hierarchies == (Hierarchy("", "cgroup2", "", "/sys/fs/cgroup", ()),)
    assert view.hierarchies[0].target == "/sys/fs/cgroup"
    assert view.cgroupns == "host" and view.writable


def test_no_cgroups_mounted() -> None:
    view = plan([])
    assert view.hierarchies == () and view.links == ()


def test_json_round_trip() -> None:
    view = plan(mounts_under(ROOT, V1_HOST), cgroupns="host")
    assert CgroupView.from_json(view.to_json()) == view
    assert CgroupView.from_json(None) == CgroupView()


def test_own_paths() -> None:
    text = "4:memory:/sbx/abc\n2:cpu,cpuacct:/sbx/abc\n1:name=systemd:/user.slice\n0::/sbx/abc\n"
    paths = own_paths(text)
    assert paths[frozenset({"cpu", "cpuacct"})] == "/sbx/abc"
    assert paths[frozenset({"name=systemd"})] == "/user.slice"
    assert paths[frozenset()] == "/sbx/abc"
