"""The cgroup managers on the real kernel: joining, memory/pids/cpu limits, kill and removal.

Runs as root with whichever layout the host has (v1/hybrid here, v2 on most machines);
every cgroup and process a test creates is removed even when the test fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sbx.cgroups import (
    CgroupManager,
    CgroupMode,
    Resources,
    V1Manager,
    V2Manager,
    detect_mode,
    open_manager,
)
from sbx.cgroups.mode import mounts_under
from sbx.errors import CgroupError

pytestmark = [pytest.mark.integration, pytest.mark.root_only(
    "these drive the host's cgroup tree directly; ordinary users get no cgroup v1 delegation "
    "(test_rootless.py checks the clear error)")]

MiB = 1024 * 1024
Make = Callable[..., CgroupManager]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Children to kill and reap after the test, whatever happened."""
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


@pytest.fixture
def make_cgroup() -> Iterator[Make]:
    """Create managers with unique names; destroy every one of them afterwards."""
    made: list[CgroupManager] = []

    def make(resources: Resources | None = None) -> CgroupManager:
        m = open_manager(f"sbx/test-{uuid.uuid4().hex[:12]}")
        made.append(m)
        m.create(resources or Resources())
        return m

    yield make
    errors = []
    for m in made:
        try:
            m.destroy()
        except CgroupError as exc:
            errors.append(exc)
    assert not errors, f"cgroups left behind: {errors}"


def spawn_in(m: CgroupManager, argv: list[str],
             procs: list[subprocess.Popen[bytes]], **kw) -> subprocess.Popen[bytes]:
    """Start argv already inside the cgroup: the child joins itself before exec."""
    files = [str(p) for p in m.procs_files()]

    def join() -> None:
        for f in files:
            with open(f, "w") as fh:
                fh.write("0")

    p = subprocess.Popen(argv, preexec_fn=join, **kw)
    procs.append(p)
    return p


def cgroup_lines(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cgroup").read_text().splitlines()


def leaf_dirs(m: CgroupManager) -> list[Path]:
    return [Path(f).parent for f in m.procs_files()]


def test_factory_matches_the_host() -> None:
    m = open_manager("sbx/test-probe")
    mode = detect_mode()
    expected = V2Manager if mode is CgroupMode.V2 else V1Manager
    assert isinstance(m, expected)


def test_add_pid_moves_a_process_into_every_hierarchy(make_cgroup: Make, processes) -> None:
    m = make_cgroup()
    child = subprocess.Popen(["sleep", "30"])
    processes.append(child)
    m.add_pid(child.pid)
    lines = cgroup_lines(child.pid)
    if isinstance(m, V1Manager):
        for h in m.hierarchies:
            if h.subsystems:
                assert any(line.endswith(f":{','.join(h.subsystems)}:/{m.name}")
                           or (h.key.startswith("name=") and line.endswith(f":/{m.name}"))
                           for line in lines), (h.key, lines)
        assert len([ln for ln in lines if ln.endswith(f":/{m.name}")]) == len(m.hierarchies)
    else:
        assert f"0::/{m.name}" in lines
    assert m.pids() == [child.pid]
    assert m.stats()["pids"]["current"] == 1


def test_child_joins_itself_before_exec(make_cgroup: Make, processes) -> None:
    m = make_cgroup()
    child = spawn_in(m, ["sleep", "30"], processes)
    assert any(line.endswith(f":/{m.name}") for line in cgroup_lines(child.pid))
    assert child.pid in m.pids()


def test_memory_limit_kills_with_sigkill_and_reports_oom(make_cgroup: Make, processes) -> None:
    m = make_cgroup(Resources(memory=32 * MiB))
    hog = spawn_in(m, [sys.executable, "-c", "b = b'x' * (200 * 1024 * 1024); print(len(b))"],
                   processes, stdout=subprocess.PIPE)
    out, _ = hog.communicate(timeout=60)
    assert hog.returncode == -signal.SIGKILL, out
    assert m.oom_killed()
    assert m.stats()["memory"]["limit"] == 32 * MiB


def test_small_allocation_under_the_limit_is_not_an_oom(make_cgroup: Make, processes) -> None:
    m = make_cgroup(Resources(memory=64 * MiB))
    ok = spawn_in(m, [sys.executable, "-c", "b = b'x' * (8 * 1024 * 1024)"], processes)
    assert ok.wait(timeout=60) == 0
    assert not m.oom_killed()


def test_pids_limit_contains_a_fork_bomb(make_cgroup: Make, processes, tmp_path) -> None:
    m = make_cgroup(Resources(pids=10))
    with open(tmp_path / "stderr", "wb") as err:
        bomb = spawn_in(m, ["/bin/sh", "-c", "for i in $(seq 1 40); do sleep 30 & done; wait"],
                        processes, stderr=err)
    # The shell gives up at the first failed fork (dash does; bash would retry).
    assert bomb.wait(timeout=20) != 0
    assert b"fork" in (tmp_path / "stderr").read_bytes().lower()
    assert m.stats()["pids"] == {"current": 9, "limit": 10}
    assert len(m.pids()) == 9          # the sleeps that did start are all in the cgroup
    m.kill_all()
    assert kill_wait_empty(m)


def kill_wait_empty(m: CgroupManager, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while m.pids() and time.monotonic() < deadline:
        time.sleep(0.02)
    return not m.pids()


def test_cpu_quota_is_set_and_throttles(make_cgroup: Make, processes) -> None:
    m = make_cgroup(Resources(cpus=0.2))
    if isinstance(m, V1Manager):
        cpu = [p for p in leaf_dirs(m) if (p / "cpu.cfs_quota_us").exists()][0]
        assert (cpu / "cpu.cfs_quota_us").read_text().strip() == "20000"
        assert (cpu / "cpu.cfs_period_us").read_text().strip() == "100000"
    else:
        assert (leaf_dirs(m)[0] / "cpu.max").read_text().split() == ["20000", "100000"]
    start = time.monotonic()
    spin = spawn_in(m, [sys.executable, "-c",
                        "import time\nt = time.monotonic() + 1.5\n"
                        "while time.monotonic() < t: pass"], processes)
    assert spin.wait(timeout=60) == 0
    wall = time.monotonic() - start
    used = m.stats()["cpu"]["usage_ns"]
    assert used is not None
    # 20% of one CPU over the process's whole life (interpreter start included, which is
    # seconds on a slow VM): at most 0.2 * wall plus a period's burst; a free spin is ~1.0
    assert used < (0.3 * wall + 0.05) * 1e9, (used, wall)


def test_kill_all_then_destroy_leaves_nothing(make_cgroup: Make, processes) -> None:
    m = make_cgroup(Resources(memory=64 * MiB, pids=20, cpus=0.5))
    kids = [spawn_in(m, ["sleep", "30"], processes) for _ in range(3)]
    tree = spawn_in(m, ["/bin/sh", "-c", "sleep 30 & sleep 30 & wait"], processes)
    dirs = leaf_dirs(m)
    assert all(d.is_dir() for d in dirs)
    m.kill_all()
    for p in [*kids, tree]:
        assert p.wait(timeout=10) == -signal.SIGKILL
    m.destroy()
    assert [d for d in dirs if d.exists()] == []
    m.destroy()    # idempotent


def test_destroy_kills_leftovers_itself(make_cgroup: Make, processes) -> None:
    m = make_cgroup()
    child = spawn_in(m, ["sleep", "30"], processes)
    m.destroy()
    assert child.wait(timeout=10) == -signal.SIGKILL
    assert [d for d in leaf_dirs(m) if d.exists()] == []


def test_kill_all_with_sigterm(make_cgroup: Make, processes) -> None:
    m = make_cgroup()
    child = spawn_in(m, ["sleep", "30"], processes)
    m.kill_all(signal.SIGTERM)
    assert child.wait(timeout=10) == -signal.SIGTERM
    assert os.path.isdir(leaf_dirs(m)[0])


def _cgroup2_mount() -> Path:
    (mount,) = [m.mount_point for m in mounts_under(Path("/sys/fs/cgroup")) if m.is_v2][:1]
    return mount


@pytest.fixture
def v2_manager() -> Iterator[V2Manager]:
    """The v2 manager on this host's cgroup2 mount (the unified tree on a hybrid host)."""
    m = V2Manager(f"sbx/test-{uuid.uuid4().hex[:12]}", _cgroup2_mount())
    yield m
    m.destroy()


def test_v2_manager_on_the_real_cgroup2_mount(v2_manager: V2Manager, processes) -> None:
    m = v2_manager
    m.create(Resources())
    child = spawn_in(m, ["sleep", "30"], processes)
    assert f"0::/{m.name}" in cgroup_lines(child.pid)
    assert m.pids() == [child.pid]
    m.kill_all(signal.SIGTERM)              # freeze, signal, thaw
    assert child.wait(timeout=10) == -signal.SIGTERM
    child2 = spawn_in(m, ["sleep", "30"], processes)
    m.kill_all()                            # cgroup.kill (5.14+) or freeze path
    assert child2.wait(timeout=10) == -signal.SIGKILL
    m.destroy()
    assert not m.path.exists()


def test_v2_manager_names_a_controller_it_cannot_get(v2_manager: V2Manager) -> None:
    available = (v2_manager.root / "cgroup.controllers").read_text().split()
    if "pids" in available:  # a pure v2 host: the limit applies
        v2_manager.create(Resources(pids=10))
        assert (v2_manager.path / "pids.max").read_text().strip() == "10"
        return
    with pytest.raises(CgroupError) as info:
        v2_manager.create(Resources(pids=10))
    assert "pids" in info.value.message
    assert not v2_manager.path.exists()
