"""``--pid host`` and ``--ipc`` (Docker 20.10's modes), and ``sbx exec`` joining the
namespaces each mode gives.  A SysV segment made in one container is found from another
only when Docker would share it: ``container:NAME`` of a shareable donor (or ``host``
for the host's), never across ``private`` containers."""

from __future__ import annotations

import ctypes
import os
import secrets
from pathlib import Path

import pytest

from tests.integration.security import cprobes

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def shm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cprobes.build("shm", tmp_path_factory.mktemp("probes"))


def _key() -> str:
    return str(0x5B000000 | secrets.randbelow(1 << 20))


def _ns(path: str) -> str:
    return os.readlink(path)


# -- --pid ------------------------------------------------------------------------------


def test_pid_host_shows_the_hosts_processes(sbx):
    host_pid1 = Path("/proc/1/comm").read_text().strip()
    assert sbx.ok("run", "--rm", "--pid", "host", "bb", "cat", "/proc/1/comm").strip() == host_pid1
    assert sbx.ok("run", "--rm", "bb", "cat", "/proc/1/comm").strip() == "cat"  # its own pid 1
    sbx.ok("run", "-d", "--name", "hp", "--pid", "host", "bb", "sleep", "1000")
    out = sbx.ok("exec", "hp", "sh", "-c", "readlink /proc/self/ns/pid; cat /proc/1/comm")
    ns, comm = out.split()
    assert ns == _ns("/proc/self/ns/pid") and comm == host_pid1
    assert str(os.getpid()) in sbx.ok("exec", "hp", "ls", "/proc").split()
    assert sbx.ok("inspect", "-f", "{{.HostConfig.PidMode}}", "hp").strip() == "host"
    sbx.ok("run", "-d", "--name", "own", "bb", "sleep", "1000")
    assert sbx.ok("inspect", "-f", "{{.HostConfig.PidMode}}", "own").strip() == ""
    assert sbx.ok("exec", "own", "readlink", "/proc/self/ns/pid").strip() != _ns("/proc/self/ns/pid")


@pytest.mark.root_only("leftovers go with the container's cgroup; rootless without a delegated cgroup has none")
def test_pid_host_container_is_cleaned_up_on_stop(sbx):
    """No pid namespace dies with init here: what the command left behind goes with the
    cgroup (as runc kills a shared-pid container's processes)."""
    cid = sbx.ok("run", "-d", "--pid", "host", "bb", "sh", "-c", "sleep 1000 & exec sleep 1001").strip()
    pid = int(sbx.ok("inspect", "-f", "{{.State.Pid}}", cid))
    assert pid > 1 and Path(f"/proc/{pid}").exists()
    sbx.ok("rm", "-f", cid)
    left = [p for p in Path("/proc").iterdir() if p.name.isdigit()
            and _cmdline(p) in ("sleep 1000", "sleep 1001")]
    assert not left


def _cmdline(p: Path) -> str:
    try:
        return p.joinpath("cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


# -- --ipc ------------------------------------------------------------------------------


def test_ipc_private_by_default(sbx, shm):
    key = _key()
    sbx.ok("run", "-d", "--name", "a", "-v", f"{shm}:/shm:ro", "bb", "sh", "-c",
           f"/shm create {key} && echo hi > /dev/shm/x && sleep 1000")
    sbx.ok("exec", "a", "/shm", "find", key)  # exec joins the container's ipc namespace
    r = sbx.run("run", "--rm", "-v", f"{shm}:/shm:ro", "bb", "/shm", "find", key)
    assert r.returncode == 1, r.stdout + r.stderr
    assert sbx.run("run", "--rm", "bb", "cat", "/dev/shm/x").returncode != 0
    assert sbx.ok("inspect", "-f", "{{.HostConfig.IpcMode}}", "a").strip() == "private"
    # Docker 20.10: a private container's IPC cannot be joined
    r = sbx.run("run", "--rm", "--ipc", "container:a", "bb", "true")
    assert r.returncode == 125
    assert r.stderr.strip() == ("sbx: can't join IPC of container a: non-shareable IPC "
                                "(use --ipc shareable for the donor container)")


def test_ipc_container_shares_a_shareable_donors_segments_and_dev_shm(sbx, shm):
    key = _key()
    sbx.ok("run", "-d", "--name", "donor", "--ipc", "shareable", "-v", f"{shm}:/shm:ro", "bb",
           "sh", "-c", f"/shm create {key} && echo hello > /dev/shm/x && sleep 1000")
    sbx.ok("exec", "donor", "/shm", "find", key)
    assert sbx.ok("inspect", "-f", "{{.HostConfig.IpcMode}}", "donor").strip() == "shareable"
    out = sbx.ok("run", "--rm", "--ipc", "container:donor", "-v", f"{shm}:/shm:ro", "bb", "sh", "-c",
                 f"/shm find {key} && cat /dev/shm/x && echo joined > /dev/shm/y")
    assert "found" in out and "hello" in out
    assert sbx.ok("exec", "donor", "cat", "/dev/shm/y").strip() == "joined"
    # exec into the joiner joins the donor's ipc namespace too
    sbx.ok("run", "-d", "--name", "joiner", "--ipc", "container:donor", "bb", "sleep", "1000")
    donor_ns = sbx.ok("exec", "donor", "readlink", "/proc/self/ns/ipc").strip()
    assert sbx.ok("exec", "joiner", "readlink", "/proc/self/ns/ipc").strip() == donor_ns
    did = sbx.ok("inspect", "-f", "{{.Id}}", "donor").strip()
    assert sbx.ok("inspect", "-f", "{{.HostConfig.IpcMode}}", "joiner").strip() == f"container:{did}"
    # a private container is still apart
    r = sbx.run("run", "--rm", "-v", f"{shm}:/shm:ro", "bb", "/shm", "find", key)
    assert r.returncode == 1
    # as Docker: the donor can go; the joiner keeps the namespace (and the segment)
    sbx.ok("rm", "-f", "donor")
    assert sbx.ok("exec", "joiner", "cat", "/dev/shm/x").strip() == "hello"
    assert sbx.ok("exec", "joiner", "readlink", "/proc/self/ns/ipc").strip() == donor_ns


def test_ipc_container_needs_a_running_donor(sbx):
    sbx.ok("create", "--name", "sleeper", "--ipc", "shareable", "bb", "sleep", "1000")
    r = sbx.run("run", "--rm", "--ipc", "container:sleeper", "bb", "true")
    assert r.returncode == 125
    assert r.stderr.strip() == "sbx: can't join IPC of container sleeper: container sleeper is not running"
    r = sbx.run("run", "--rm", "--ipc", "container:nosuch", "bb", "true")
    assert r.returncode == 125 and "nosuch" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_ipc_none_has_no_dev_shm_and_its_own_namespace(sbx, shm):
    out = sbx.ok("run", "--rm", "--ipc", "none", "bb", "sh", "-c",
                 "test -e /dev/shm && echo present || echo absent; readlink /proc/self/ns/ipc")
    state, ns = out.split()
    assert state == "absent" and ns != _ns("/proc/self/ns/ipc")


@pytest.mark.root_only("the host's ipc namespace is the root user's (rootless: the user's namespace holds another)")
def test_ipc_host_sees_the_hosts_segments(sbx, shm):
    libc = ctypes.CDLL(None, use_errno=True)
    key = int(_key())
    shmid = libc.shmget(key, 4096, 0o1000 | 0o600)  # IPC_CREAT
    assert shmid >= 0, os.strerror(ctypes.get_errno())
    try:
        out = sbx.ok("run", "--rm", "--ipc", "host", "-v", f"{shm}:/shm:ro", "bb", "sh", "-c",
                     f"/shm find {key}; readlink /proc/self/ns/ipc; grep ' /dev/shm ' /proc/mounts")
        assert "found" in out and _ns("/proc/self/ns/ipc") in out
        r = sbx.run("run", "--rm", "-v", f"{shm}:/shm:ro", "bb", "/shm", "find", str(key))
        assert r.returncode == 1
        sbx.ok("run", "-d", "--name", "hipc", "--ipc", "host", "bb", "sleep", "1000")
        assert sbx.ok("exec", "hipc", "readlink", "/proc/self/ns/ipc").strip() == _ns("/proc/self/ns/ipc")
        assert sbx.ok("inspect", "-f", "{{.HostConfig.IpcMode}}", "hipc").strip() == "host"
    finally:
        libc.shmctl(shmid, 0, None)  # IPC_RMID


def test_bad_pid_and_ipc_values_are_one_line_and_125(sbx):
    for args in (("--pid", "bogus"), ("--pid", "private"), ("--ipc", "bogus"), ("--ipc", "container:")):
        r = sbx.run("run", "--rm", *args, "bb", "true")
        assert r.returncode == 125, args
        assert len(r.stderr.strip().splitlines()) == 1 and args[0] in r.stderr, r.stderr
