"""V1Manager against a fake hybrid tree: every hierarchy, limit files, write order, errors."""

from __future__ import annotations

import errno
import subprocess

import pytest
from sbx.cgroups import CgroupFileError, CgroupMode, Resources, V1Manager, open_manager
from sbx.cgroups.devices import DEFAULT_RULES, DeviceRule
from sbx.errors import CgroupError

MiB = 1024 * 1024
NAME = "sbx/c1"


def manager(root, mountinfo, files) -> V1Manager:
    m = open_manager(NAME, root=root, mountinfo=mountinfo, files=files)
    assert isinstance(m, V1Manager)
    return m


def test_factory_picks_v1_on_hybrid_and_joins_every_hierarchy(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    m = manager(root, mountinfo, fake_files)
    assert (m.version, m.driver) == ("v1", "cgroupfs")
    assert sorted(h.key for h in m.hierarchies) == sorted(
        ["cpu,cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
         "name=systemd", "unified"])
    m.create(Resources())
    m.add_pid(4242)
    dirs = ["cpu,cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
            "systemd", "unified"]
    assert sorted(m.procs_files()) == sorted(root / d / NAME / "cgroup.procs" for d in dirs)
    for procs in m.procs_files():
        assert fake_files.written(procs) == ["4242"]
    assert m.pids() == [4242]


def test_limits_are_written_to_their_controllers(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    m = manager(root, mountinfo, fake_files)
    m.create(Resources(memory=32 * MiB, cpus=0.2, cpu_shares=512, pids=10))
    mem = root / "memory" / NAME
    cpu = root / "cpu,cpuacct" / NAME
    assert fake_files.written(mem / "memory.limit_in_bytes") == [str(32 * MiB)]
    assert fake_files.written(mem / "memory.memsw.limit_in_bytes") == [str(32 * MiB)]
    assert fake_files.written(mem / "memory.swappiness") == ["0"]
    assert fake_files.written(cpu / "cpu.cfs_period_us") == ["100000"]
    assert fake_files.written(cpu / "cpu.cfs_quota_us") == ["20000"]
    assert fake_files.written(cpu / "cpu.shares") == ["512"]
    assert fake_files.written(root / "pids" / NAME / "pids.max") == ["10"]


def test_memory_first_when_lowering_from_unlimited(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    manager(root, mountinfo, fake_files).create(Resources(memory=32 * MiB))
    mem = root / "memory" / NAME
    limit, memsw = mem / "memory.limit_in_bytes", mem / "memory.memsw.limit_in_bytes"
    assert fake_files.order(limit, memsw) == [limit, memsw]


def test_memsw_first_when_raising_above_the_current_limit(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    manager(root, mountinfo, fake_files).create(Resources(memory=16 * MiB))
    fake_files.writes.clear()
    manager(root, mountinfo, fake_files).create(Resources(memory=64 * MiB,
                                                          memory_swap=128 * MiB))
    mem = root / "memory" / NAME
    limit, memsw = mem / "memory.limit_in_bytes", mem / "memory.memsw.limit_in_bytes"
    assert fake_files.order(limit, memsw) == [memsw, limit]
    assert fake_files.written(memsw) == [str(128 * MiB)]
    assert fake_files.written(mem / "memory.swappiness") == []   # swap was asked for


def test_unlimited_swap_writes_memsw_first(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    manager(root, mountinfo, fake_files).create(Resources(memory=64 * MiB, memory_swap=-1))
    mem = root / "memory" / NAME
    limit, memsw = mem / "memory.limit_in_bytes", mem / "memory.memsw.limit_in_bytes"
    assert fake_files.order(limit, memsw) == [memsw, limit]
    assert fake_files.written(memsw) == ["-1"]


def test_without_swap_accounting_only_the_limit_is_set(hybrid_tree, fake_files):
    fake_files.omit.add("memory.memsw.limit_in_bytes")
    root, mountinfo = hybrid_tree()
    manager(root, mountinfo, fake_files).create(Resources(memory=64 * MiB))
    mem = root / "memory" / NAME
    assert fake_files.written(mem / "memory.limit_in_bytes") == [str(64 * MiB)]
    assert not (mem / "memory.memsw.limit_in_bytes").exists()


def test_unwritable_swappiness_is_not_fatal(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    fake_files.fail_write[root / "memory" / NAME / "memory.swappiness"] = errno.EINVAL
    manager(root, mountinfo, fake_files).create(Resources(memory=64 * MiB))
    assert (root / "memory" / NAME).is_dir()


def test_cpuset_is_copied_from_the_parent_at_every_level(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    manager(root, mountinfo, fake_files).create(Resources())
    for level in (root / "cpuset" / "sbx", root / "cpuset" / NAME):
        assert (level / "cpuset.cpus").read_text() == "0-3"
        assert (level / "cpuset.mems").read_text() == "0"
    # an existing parent that is already filled is left alone
    fake_files.writes.clear()
    open_manager("sbx/c2", root=root, mountinfo=mountinfo, files=fake_files).create(Resources())
    assert fake_files.written(root / "cpuset/sbx/cpuset.cpus") == []
    assert fake_files.written(root / "cpuset/sbx/c2/cpuset.cpus") == ["0-3"]


def test_devices_deny_all_then_allow_dockers_list(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    manager(root, mountinfo, fake_files).create(Resources())
    dev = root / "devices" / NAME
    assert fake_files.written(dev / "devices.deny") == ["a"]
    allowed = fake_files.written(dev / "devices.allow")
    assert allowed == [str(r) for r in DEFAULT_RULES]
    assert {"c 1:3 rwm", "c 1:9 rwm", "c 136:* rwm", "c 5:2 rwm"} <= set(allowed)
    assert fake_files.order(dev / "devices.deny", dev / "devices.allow")[0] == dev / "devices.deny"
    # devices of the shared parent are not restricted (siblings would inherit it)
    assert fake_files.written(root / "devices/sbx/devices.deny") == []


def test_device_nodes_added_and_privileged_allows_all(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    fuse = DeviceRule("c", 10, 229, "rw")
    manager(root, mountinfo, fake_files).create(Resources(devices=(*DEFAULT_RULES, fuse)))
    dev = root / "devices" / NAME
    assert fake_files.written(dev / "devices.allow")[-1] == "c 10:229 rw"
    fake_files.writes.clear()
    open_manager("sbx/priv", root=root, mountinfo=mountinfo, files=fake_files).create(
        Resources(devices=None))
    assert fake_files.written(root / "devices/sbx/priv/devices.allow") == ["a"]
    assert fake_files.written(root / "devices/sbx/priv/devices.deny") == []


def test_missing_controller_for_a_limit_is_an_error_and_nothing_is_created(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree([("memory", ("memory",)), ("freezer", ("freezer",))])
    m = manager(root, mountinfo, fake_files)
    with pytest.raises(CgroupError) as info:
        m.create(Resources(memory=64 * MiB, pids=10))
    assert "pids" in info.value.message and "not mounted" in info.value.message
    assert not (root / "memory/sbx").exists()


def test_failure_midway_names_the_file_and_removes_every_created_dir(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    quota = root / "cpu,cpuacct" / NAME / "cpu.cfs_quota_us"
    fake_files.fail_write[quota] = errno.EINVAL
    m = manager(root, mountinfo, fake_files)
    with pytest.raises(CgroupFileError) as info:
        m.create(Resources(cpus=0.5))
    assert str(quota) in info.value.message
    assert "errno 22" in info.value.message and info.value.hint
    leftovers = [p for p in root.rglob("sbx")]
    assert leftovers == []


def test_oom_killed_from_oom_control(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    m = manager(root, mountinfo, fake_files)
    m.create(Resources(memory=32 * MiB))
    assert not m.oom_killed()
    (root / "memory" / NAME / "memory.oom_control").write_text(
        "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert m.oom_killed()


def test_oom_killed_falls_back_to_failcnt_on_old_kernels(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    m = manager(root, mountinfo, fake_files)
    m.create(Resources(memory=32 * MiB))
    mem = root / "memory" / NAME
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\n")
    assert not m.oom_killed()
    (mem / "memory.failcnt").write_text("7\n")
    assert m.oom_killed()


def test_stats(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    m = manager(root, mountinfo, fake_files)
    m.create(Resources(pids=10))
    (root / "memory" / NAME / "memory.usage_in_bytes").write_text("4096\n")
    (root / "cpu,cpuacct" / NAME / "cpuacct.usage").write_text("123456789\n")
    (root / "pids" / NAME / "pids.current").write_text("2\n")
    assert m.stats() == {
        "memory": {"usage": 4096, "limit": None},
        "pids": {"current": 2, "limit": 10},
        "cpu": {"usage_ns": 123456789},
    }


def test_kill_all_freezes_signals_every_pid_and_thaws(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    m = manager(root, mountinfo, fake_files)
    m.create(Resources())
    child = subprocess.Popen(["sleep", "30"])
    try:
        (root / "memory" / NAME / "cgroup.procs").write_text(f"{child.pid}\n")
        m.kill_all()
        assert child.wait(timeout=5) == -9
        assert fake_files.written(root / "freezer" / NAME / "freezer.state") == ["FROZEN", "THAWED"]
    finally:
        child.kill()
        child.wait()


def test_destroy_removes_the_cgroup_everywhere_and_is_idempotent(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    m = manager(root, mountinfo, fake_files)
    m.create(Resources(memory=32 * MiB))
    m.destroy()
    assert [p for p in root.rglob("c1")] == []
    assert (root / "memory/sbx").is_dir()
    m.destroy()


def test_destroy_reports_every_failure_after_trying_all(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    m = manager(root, mountinfo, fake_files)
    m.create(Resources())
    fake_files.fail_rmdir[root / "pids" / NAME] = errno.EBUSY
    with pytest.raises(CgroupFileError) as info:
        m.destroy()
    assert str(root / "pids" / NAME) in info.value.message
    assert not (root / "memory" / NAME).exists()


def test_explicit_v1_mode_ignores_the_unified_mount(hybrid_tree, fake_files):
    root, mountinfo = hybrid_tree()
    m = open_manager(NAME, root=root, mountinfo=mountinfo, mode=CgroupMode.V1, files=fake_files)
    assert isinstance(m, V1Manager)
    assert "unified" not in [h.key for h in m.hierarchies]
