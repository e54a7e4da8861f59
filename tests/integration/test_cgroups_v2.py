"""cgroup v2 on a pure v2 kernel (the VM pass, scripts/vm-test.sh; deselected elsewhere):
every limit lands in its v2 file, OOM is reported, kill-all and the freezer work, nothing is
left after ``rm -f``, a SIGKILLed ``sbx run`` or prune; as root and, through the subtree
delegated to the user (systemd's ``user@UID.service``), as an ordinary user."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sbx.cgroups import CgroupFiles, V2Manager, open_manager
from sbx.cgroups.resources import Resources

pytestmark = [pytest.mark.integration, pytest.mark.cgroup_v2]

CG = Path("/sys/fs/cgroup")
MiB = 1024 * 1024


def cgroup_dir(pid: int) -> Path:
    """The host's directory of the cgroup that process ``pid`` is in."""
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return CG / line[3:].strip().lstrip("/")
    raise AssertionError(f"no cgroup v2 line for pid {pid}")


def state(sbx, cid: str) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(sbx.ok("inspect", cid))[0]["State"]


def started(sbx, *args: str) -> tuple[str, Path]:  # type: ignore[no-untyped-def]
    """Run a detached container; its id and its cgroup directory."""
    cid = sbx.ok("run", "-d", *args).strip()
    pid = state(sbx, cid)["Pid"]
    return cid, cgroup_dir(pid)


def read(d: Path, name: str) -> str:
    return (d / name).read_text().strip()


def gone(path: Path, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not path.exists()


def test_the_host_is_pure_v2_and_sbx_uses_it(sbx) -> None:  # type: ignore[no-untyped-def]
    types = [line.split()[2] for line in Path("/proc/self/mounts").read_text().splitlines()]
    assert "cgroup2" in types and "cgroup" not in types  # no v1 hierarchy
    info = json.loads(sbx.ok("info", "--format", "json"))
    assert info["CgroupVersion"] == "2", info


def test_memory_limit_is_memory_max_and_oom_is_137(sbx) -> None:  # type: ignore[no-untyped-def]
    cid, d = started(sbx, "-m", "32m", "bb", "sleep", "100")
    assert read(d, "memory.max") == str(32 * MiB)
    assert read(d, "memory.swap.max") == "0"      # -m alone: no swap on top
    assert d.name == cid
    r = sbx.run("run", "--name", "oom", "-m", "16m", "bb", "sh", "-c",
                "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done", timeout=120)
    assert r.returncode == 137, r.stderr
    assert state(sbx, "oom")["OOMKilled"] is True
    assert sbx.ok("inspect", "-f", "{{.State.OOMKilled}}", "oom").strip() == "true"


def test_memory_swap_is_memory_swap_max(sbx) -> None:  # type: ignore[no-untyped-def]
    _, d = started(sbx, "-m", "32m", "--memory-swap", "96m", "bb", "sleep", "100")
    assert read(d, "memory.max") == str(32 * MiB)
    assert read(d, "memory.swap.max") == str(64 * MiB)
    _, d = started(sbx, "-m", "32m", "--memory-swap", "-1", "bb", "sleep", "100")
    assert read(d, "memory.swap.max") == "max"


def test_cpus_is_cpu_max_and_cpu_shares_is_cpu_weight(sbx) -> None:  # type: ignore[no-untyped-def]
    _, d = started(sbx, "--cpus", "0.5", "--cpu-shares", "512", "bb", "sleep", "100")
    assert read(d, "cpu.max").split() == ["50000", "100000"]
    assert read(d, "cpu.weight") == "59"   # current runc/crun: 512 -> 59 (1024 -> 100)
    _, d = started(sbx, "--cpu-shares", "1024", "bb", "sleep", "100")
    assert read(d, "cpu.weight") == "100"
    _, d = started(sbx, "bb", "sleep", "100")
    assert read(d, "cpu.max").split()[0] == "max"  # no limit asked: none written
    assert read(d, "cpu.weight") == "100"


def test_pids_limit_contains_a_fork_bomb(sbx) -> None:  # type: ignore[no-untyped-def]
    cid, d = started(sbx, "--pids-limit", "20", "bb", "sleep", "1000")
    assert read(d, "pids.max") == "20"
    r = sbx.run("exec", cid, "sh", "-c", "while true; do sleep 100 & done", timeout=120)
    assert r.returncode != 0 and "fork" in r.stderr  # the bomb hit the limit and stopped
    assert int(read(d, "pids.current")) <= 20
    assert "Up " in sbx.ok("ps", "--filter", f"id={cid}")
    sbx.ok("rm", "-f", cid)
    assert gone(d)


def test_rm_f_kills_every_process_and_removes_the_cgroup(sbx) -> None:  # type: ignore[no-untyped-def]
    cid, d = started(sbx, "bb", "sh", "-c", "sleep 1000 & sleep 1000 & sleep 1000 & wait")
    deadline = time.monotonic() + 30
    while len(read(d, "cgroup.procs").split()) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = [int(p) for p in read(d, "cgroup.procs").split()]
    assert len(pids) == 4
    sbx.ok("rm", "-f", cid)
    assert gone(d)
    assert [p for p in pids if Path(f"/proc/{p}").exists()] == []


def test_prune_leaves_no_cgroup(sbx) -> None:  # type: ignore[no-untyped-def]
    ids = [sbx.ok("run", "-d", "-m", "32m", "bb", "sleep", "0").strip() for _ in range(2)]
    for cid in ids:
        sbx.ok("wait", cid)
    sbx.ok("container", "prune", "-f")
    assert sbx.ok("ps", "-a", "-q") == ""
    left = [p for p in CG.rglob("*") if p.is_dir() and p.name in ids]
    assert left == []


def test_sigkill_of_sbx_run_then_rm_leaves_nothing(sbx) -> None:  # type: ignore[no-untyped-def]
    run = subprocess.Popen([sys.executable, "-m", "sbx", "run", "--name", "k9", "-m", "32m",
                            "bb", "sleep", "1000"], env=sbx.env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if "Up " in sbx.run("ps", "--filter", "name=k9").stdout:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the container never came up")
        pid = state(sbx, "k9")["Pid"]
        d = cgroup_dir(pid)
        run.send_signal(signal.SIGKILL)
        run.wait(timeout=10)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    sbx.ok("rm", "-f", "k9")
    assert gone(d)
    assert not Path(f"/proc/{pid}").exists()


# -- the manager itself, in the root cgroup (root) or the delegated subtree (user) ---------

class Recording(CgroupFiles):
    def __init__(self) -> None:
        self.writes: list[tuple[str, str]] = []

    def write(self, path: Path, value: str | int) -> None:
        self.writes.append((path.name, str(value)))
        super().write(path, value)


@pytest.fixture
def manager() -> Iterator[V2Manager]:
    m = open_manager(f"sbx/test-{uuid.uuid4().hex[:12]}", files=Recording())
    assert isinstance(m, V2Manager), m
    m.create(Resources(memory=64 * MiB, pids=50))
    yield m
    m.destroy()
    assert not m.path.exists()


def spawn(m: V2Manager, *argv: str) -> subprocess.Popen[bytes]:
    procs = str(m.path / "cgroup.procs")

    def join() -> None:
        with open(procs, "w") as f:
            f.write("0")

    return subprocess.Popen(list(argv), preexec_fn=join)


def test_kill_all_writes_cgroup_kill(manager: V2Manager) -> None:
    kids = [spawn(manager, "sleep", "100") for _ in range(3)]
    try:
        assert sorted(manager.pids()) == sorted(k.pid for k in kids)
        manager.kill_all()
        assert ("cgroup.kill", "1") in manager.files.writes  # type: ignore[attr-defined]
        assert [k.wait(timeout=10) for k in kids] == [-signal.SIGKILL] * 3
    finally:
        for k in kids:
            if k.poll() is None:
                k.kill()
                k.wait()


def test_other_signals_go_through_the_freezer(manager: V2Manager) -> None:
    kid = spawn(manager, "sleep", "100")
    try:
        manager.kill_all(signal.SIGTERM)
        writes = manager.files.writes  # type: ignore[attr-defined]
        assert [w for w in writes if w[0] == "cgroup.freeze"] == [("cgroup.freeze", "1"),
                                                                   ("cgroup.freeze", "0")]
        assert kid.wait(timeout=10) == -signal.SIGTERM
        assert "frozen 0" in read(manager.path, "cgroup.events")
    finally:
        if kid.poll() is None:
            kid.kill()
            kid.wait()


def test_limits_land_in_the_managers_files(manager: V2Manager) -> None:
    assert read(manager.path, "memory.max") == str(64 * MiB)
    assert read(manager.path, "pids.max") == "50"
    assert manager.stats()["memory"]["limit"] == 64 * MiB
    assert manager.stats()["pids"]["limit"] == 50


@pytest.mark.rootless_only
def test_a_users_containers_live_in_the_delegated_subtree(sbx) -> None:  # type: ignore[no-untyped-def]
    _, d = started(sbx, "-m", "32m", "--pids-limit", "10", "--cpus", "0.5", "bb", "sleep", "100")
    service = f"user@{os.getuid()}.service"
    assert service in d.parts, d
    assert d.parent.name == "sbx" and d.parent.parent.name == service
    assert read(d, "memory.max") == str(32 * MiB)
    assert read(d, "pids.max") == "10"
    assert read(d, "cpu.max").split() == ["50000", "100000"]
    assert d.stat().st_uid == os.getuid()
