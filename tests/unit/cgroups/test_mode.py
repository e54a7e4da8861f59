"""detect_mode and the cgroup mount parser on real-world mountinfo samples."""

from __future__ import annotations

from pathlib import Path

import pytest
from sbx.cgroups import CgroupMode, cgroup_info, detect_mode
from sbx.cgroups.mode import mounts_under, parse_cgroup_mounts
from sbx.errors import CgroupError

# CentOS 7 (systemd 219, SELinux): legacy hierarchy only.
CENTOS7_V1 = """\
18 41 0:17 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw,seclabel
24 18 0:20 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:7 - tmpfs tmpfs ro,seclabel,mode=755
25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,seclabel,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
27 24 0:23 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,seclabel,cpuacct,cpu
28 24 0:24 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,seclabel,memory
29 24 0:25 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,seclabel,pids
30 24 0:26 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,seclabel,cpuset
31 24 0:27 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,seclabel,net_prio,net_cls
32 24 0:28 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,seclabel,freezer
33 24 0:29 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,seclabel,devices
34 24 0:30 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,seclabel,blkio
"""

# Ubuntu 20.04 (systemd 245): hybrid, cgroup2 at /sys/fs/cgroup/unified.
UBUNTU2004_HYBRID = """\
26 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
35 24 0:30 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
37 35 0:32 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
40 35 0:35 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,net_cls,net_prio
41 35 0:36 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory
42 35 0:37 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,cpu,cpuacct
43 35 0:38 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,pids
44 35 0:39 / /sys/fs/cgroup/rdma rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,rdma
45 35 0:40 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,hugetlb
"""

# Fedora 38 / Ubuntu 22.04 / Debian 12: unified only.
FEDORA_V2 = """\
23 97 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw,seclabel
26 23 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,seclabel,nsdelegate,memory_recursiveprot
"""

# Inside a Docker container on a v2 host (private cgroupns): source "cgroup", type cgroup2.
DOCKER_V2 = """\
700 699 0:61 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate
"""

# Inside a Docker container on a v1 host: the hierarchies' roots are the container's cgroup.
DOCKER_V1 = """\
580 579 0:70 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
581 580 0:28 /docker/3f1a /sys/fs/cgroup/systemd ro,nosuid,nodev,noexec,relatime master:11 - cgroup cgroup rw,xattr,name=systemd
582 580 0:32 /docker/3f1a /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:16 - cgroup cgroup rw,memory
583 580 0:33 /docker/3f1a /sys/fs/cgroup/cpu,cpuacct ro,nosuid,nodev,noexec,relatime master:17 - cgroup cgroup rw,cpu,cpuacct
"""

# This project's CI machine: one hierarchy per controller, plus an almost empty cgroup2.
THIS_MACHINE = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""

NO_CGROUPS = """\
26 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 26 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw
"""


@pytest.mark.parametrize(("text", "mode"), [
    (CENTOS7_V1, CgroupMode.V1),
    (DOCKER_V1, CgroupMode.V1),
    (UBUNTU2004_HYBRID, CgroupMode.HYBRID),
    (THIS_MACHINE, CgroupMode.HYBRID),
    (FEDORA_V2, CgroupMode.V2),
    (DOCKER_V2, CgroupMode.V2),
])
def test_detect_mode(text: str, mode: CgroupMode) -> None:
    assert detect_mode(text) is mode


def test_no_cgroup_mount_is_an_error_with_a_hint() -> None:
    with pytest.raises(CgroupError) as info:
        detect_mode(NO_CGROUPS)
    assert "/sys/fs/cgroup" in info.value.message
    assert info.value.hint


def test_mounts_outside_the_root_are_ignored() -> None:
    with pytest.raises(CgroupError):
        detect_mode(FEDORA_V2, root=Path("/elsewhere"))


def test_subsystems_drop_mount_options_and_keep_named_hierarchies() -> None:
    keys = {m.key for m in parse_cgroup_mounts(CENTOS7_V1)}
    assert keys == {"name=systemd", "cpu,cpuacct", "memory", "pids", "cpuset",
                    "net_cls,net_prio", "freezer", "devices", "blkio"}


def test_cgroup2_mount_and_container_roots() -> None:
    (unified,) = [m for m in parse_cgroup_mounts(UBUNTU2004_HYBRID) if m.is_v2]
    assert unified.mount_point == Path("/sys/fs/cgroup/unified")
    assert unified.subsystems == () and unified.key == "unified"
    memory = [m for m in parse_cgroup_mounts(DOCKER_V1) if m.key == "memory"][0]
    assert memory.root == "/docker/3f1a"


def test_escaped_mount_points() -> None:
    text = r"50 1 0:40 / /tmp/my\040cgroups rw - cgroup2 cgroup2 rw" + "\n"
    (m,) = parse_cgroup_mounts(text)
    assert m.mount_point == Path("/tmp/my cgroups")
    assert detect_mode(text, root=Path("/tmp/my cgroups")) is CgroupMode.V2


def test_a_later_mount_over_the_root_hides_earlier_ones() -> None:
    text = FEDORA_V2 + "99 26 0:50 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n" \
        "100 99 0:51 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    points = {m.mount_point for m in mounts_under(Path("/sys/fs/cgroup"), text)}
    assert points == {Path("/sys/fs/cgroup/memory")}
    assert detect_mode(text) is CgroupMode.V1


def test_cgroup_info_v1_lists_controllers_without_named_hierarchies() -> None:
    info = cgroup_info(mountinfo=THIS_MACHINE)
    assert info == {"version": "1", "mode": "hybrid", "driver": "cgroupfs",
                    "controllers": ["blkio", "cpu", "cpuacct", "cpuset", "devices",
                                    "freezer", "memory", "pids"]}


def test_cgroup_info_v2_reads_cgroup_controllers(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    text = f"26 23 0:24 / {tmp_path} rw - cgroup2 cgroup2 rw\n"
    info = cgroup_info(tmp_path, mountinfo=text)
    assert info == {"version": "2", "mode": "v2", "driver": "cgroupfs",
                    "controllers": ["cpu", "cpuset", "io", "memory", "pids"]}


def test_cgroup_info_without_cgroups() -> None:
    assert cgroup_info(mountinfo=NO_CGROUPS)["version"] == "none"
