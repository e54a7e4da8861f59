"""V2Manager against a fake unified tree: which files get which values, and the errors."""

from __future__ import annotations

import errno
import subprocess
from pathlib import Path

import pytest
from sbx.cgroups import CgroupFileError, CgroupMode, Resources, V2Manager, open_manager
from sbx.errors import CgroupError

MiB = 1024 * 1024


def manager(root: Path, files, name: str = "sbx/c1") -> V2Manager:
    m = open_manager(name, root=root, mode=CgroupMode.V2, files=files)
    assert isinstance(m, V2Manager)
    return m


def test_create_enables_controllers_top_down_and_writes_limits(v2_root, fake_files):
    m = manager(v2_root, fake_files)
    m.create(Resources(memory=32 * MiB, cpus=0.5, cpu_shares=1024, pids=10))

    leaf = v2_root / "sbx" / "c1"
    assert leaf.is_dir()
    for parent in (v2_root, v2_root / "sbx"):
        enabled = (parent / "cgroup.subtree_control").read_text().split()
        assert {"cpu", "memory", "pids", "io"} <= set(enabled)
        assert "hugetlb" not in enabled
    assert fake_files.written(leaf / "memory.max") == [str(32 * MiB)]
    assert fake_files.written(leaf / "memory.swap.max") == ["0"]
    assert fake_files.written(leaf / "cpu.max") == ["50000 100000"]
    assert fake_files.written(leaf / "cpu.weight") == ["100"]
    assert fake_files.written(leaf / "pids.max") == ["10"]
    # The leaf enables nothing: its processes may live in it ("no internal processes").
    assert fake_files.written(leaf / "cgroup.subtree_control") == []
    assert m.path_for_inspect() == "/sbx/c1"
    assert (m.version, m.driver, m.name) == ("v2", "cgroupfs", "sbx/c1")


def test_no_limits_writes_no_limit_files(v2_root, fake_files):
    m = manager(v2_root, fake_files)
    m.create(Resources())
    leaf = v2_root / "sbx" / "c1"
    assert [p.name for p, _ in fake_files.writes] == ["cgroup.subtree_control"] * 8
    assert (leaf / "memory.max").read_text() == "max"


@pytest.mark.parametrize(("swap", "expected"), [(None, "0"), (-1, "max"), (96 * MiB, str(64 * MiB))])
def test_swap_max_is_swap_on_top_of_memory(v2_root, fake_files, swap, expected):
    m = manager(v2_root, fake_files)
    m.create(Resources(memory=32 * MiB, memory_swap=swap))
    assert fake_files.written(v2_root / "sbx/c1/memory.swap.max") == [expected]


def test_swap_max_skipped_without_swap_accounting(v2_root, fake_files):
    fake_files.omit.add("memory.swap.max")
    m = manager(v2_root, fake_files)
    m.create(Resources(memory=32 * MiB))
    assert fake_files.written(v2_root / "sbx/c1/memory.max") == [str(32 * MiB)]
    assert not (v2_root / "sbx/c1/memory.swap.max").exists()


def test_unlimited_pids_leaves_pids_max_alone(v2_root, fake_files):
    manager(v2_root, fake_files).create(Resources(pids=-1))
    assert fake_files.written(v2_root / "sbx/c1/pids.max") == []


def test_missing_controller_is_named_and_nothing_is_left_behind(tmp_path, fake_files):
    root = tmp_path / "cg"
    fake_files.add_v2(root, "cpu io memory")     # no pids
    m = manager(root, fake_files)
    with pytest.raises(CgroupError) as info:
        m.create(Resources(pids=10))
    assert "pids" in info.value.message
    assert "cgroup.controllers" in info.value.message
    assert not (root / "sbx").exists()


def test_controller_not_delegated_to_existing_parent(v2_root, fake_files):
    (v2_root / "sbx").mkdir()
    (v2_root / "sbx/cgroup.controllers").write_text("cpu\n")   # memory not delegated
    (v2_root / "sbx/cgroup.subtree_control").write_text("")
    m = manager(v2_root, fake_files)
    with pytest.raises(CgroupError) as info:
        m.create(Resources(memory=64 * MiB))
    assert "memory" in info.value.message
    assert "not delegated" in info.value.message
    assert not (v2_root / "sbx/c1").exists()
    assert (v2_root / "sbx").exists()     # not ours: kept


def test_ebusy_on_subtree_control_explains_no_internal_processes(v2_root, fake_files):
    fake_files.fail_write[v2_root / "cgroup.subtree_control"] = errno.EBUSY
    m = manager(v2_root, fake_files)
    with pytest.raises(CgroupFileError) as info:
        m.create(Resources(memory=64 * MiB))
    assert info.value.errno == errno.EBUSY
    assert str(v2_root / "cgroup.subtree_control") in info.value.message
    assert "no internal processes" in (info.value.hint or "")
    assert not (v2_root / "sbx").exists()


def test_rejected_value_names_file_and_errno_and_cleans_up(v2_root, fake_files):
    leaf = v2_root / "sbx" / "c1"
    fake_files.fail_write[leaf / "cpu.max"] = errno.EINVAL
    m = manager(v2_root, fake_files)
    with pytest.raises(CgroupFileError) as info:
        m.create(Resources(memory=64 * MiB, cpus=1.5))
    assert str(leaf / "cpu.max") in info.value.message
    assert "errno 22" in info.value.message
    assert not leaf.exists() and not (v2_root / "sbx").exists()


def test_reusing_an_existing_cgroup_is_allowed(v2_root, fake_files):
    manager(v2_root, fake_files).create(Resources(pids=5))
    manager(v2_root, fake_files).create(Resources(pids=7))
    assert fake_files.written(v2_root / "sbx/c1/pids.max") == ["5", "7"]


def test_add_pid_and_procs_files(v2_root, fake_files):
    m = manager(v2_root, fake_files)
    m.create(Resources())
    m.add_pid(4242)
    procs = v2_root / "sbx/c1/cgroup.procs"
    assert m.procs_files() == [procs]
    assert fake_files.written(procs) == ["4242"]
    assert m.pids() == [4242]


def test_add_pid_to_missing_cgroup_fails_with_enoent(v2_root, fake_files):
    m = manager(v2_root, fake_files)
    with pytest.raises(CgroupFileError) as info:
        m.add_pid(1234)
    assert info.value.errno == errno.ENOENT
    assert "sbx/c1/cgroup.procs" in info.value.message


def test_oom_killed_reads_memory_events(v2_root, fake_files):
    m = manager(v2_root, fake_files)
    m.create(Resources(memory=32 * MiB))
    assert not m.oom_killed()
    (v2_root / "sbx/c1/memory.events").write_text("low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\n")
    assert m.oom_killed()


def test_stats(v2_root, fake_files):
    m = manager(v2_root, fake_files)
    m.create(Resources(memory=32 * MiB, pids=10))
    leaf = v2_root / "sbx/c1"
    (leaf / "memory.current").write_text("1048576\n")
    (leaf / "pids.current").write_text("3\n")
    (leaf / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
    assert m.stats() == {
        "memory": {"usage": 1048576, "limit": 32 * MiB},
        "pids": {"current": 3, "limit": 10},
        "cpu": {"usage_ns": 1_500_000},
    }


def test_kill_all_uses_cgroup_kill(v2_root, fake_files):
    m = manager(v2_root, fake_files)
    m.create(Resources())
    m.kill_all()
    assert fake_files.written(v2_root / "sbx/c1/cgroup.kill") == ["1"]


def test_kill_all_without_cgroup_kill_freezes_signals_thaws(v2_root, fake_files):
    fake_files.omit.add("cgroup.kill")
    m = manager(v2_root, fake_files)
    m.create(Resources())
    child = subprocess.Popen(["sleep", "30"])
    try:
        (v2_root / "sbx/c1/cgroup.procs").write_text(f"{child.pid}\n")
        m.kill_all()
        assert child.wait(timeout=5) == -9
        assert fake_files.written(v2_root / "sbx/c1/cgroup.freeze") == ["1", "0"]
    finally:
        child.kill()
        child.wait()


def test_destroy_removes_the_leaf_keeps_the_parent_and_is_idempotent(v2_root, fake_files):
    m = manager(v2_root, fake_files)
    m.create(Resources(memory=32 * MiB))
    (v2_root / "sbx/c1/sub").mkdir()                 # a nested cgroup made inside
    m.destroy()
    assert not (v2_root / "sbx/c1").exists()
    assert (v2_root / "sbx").is_dir()
    m.destroy()


def test_destroy_reports_ebusy_with_the_path(v2_root, fake_files):
    m = manager(v2_root, fake_files)
    m.create(Resources())
    fake_files.fail_rmdir[v2_root / "sbx/c1"] = errno.EBUSY
    with pytest.raises(CgroupFileError) as info:
        m.destroy()
    assert str(v2_root / "sbx/c1") in info.value.message
    assert "errno 16" in info.value.message
