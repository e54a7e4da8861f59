"""/sys and the container's cgroup, tried as an attacker would (issue 10, finding 2).

A container must never write the host's cgroup file system: ``echo $$ >
/sys/fs/cgroup/devices/cgroup.procs`` would leave its device policy and its memory and
pids limits.  Every path is tried (the default network, ``--network host``, ``--network
container:X``, ``sbx exec`` and a build ``RUN``): every cgroup and sysfs write fails
with EROFS, the process is still in its cgroup seen from the host, /sys is a fresh sysfs
(not a bind of the host's with its submounts), and the container reads its own limits
under /sys/fs/cgroup inside a cgroup namespace.  (``:ro`` binds and ``--sysctl``, which do
not depend on the cgroup layout: test_readonly_sysctls.py.)

On this cgroup v1 (hybrid) machine the ``v2`` variant runs sbx with cgroup2 mounted over
/sys/fs/cgroup in a private mount namespace, which makes sbx pick its v2 manager; on a
pure v2 host (the VM of scripts/vm-test.sh) the host itself is v2 and no trick is needed.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOTLESS

pytestmark = pytest.mark.integration

SBX_ID = re.compile(r"/sbx/([0-9a-f]{64})$")


def _host_is_pure_v2() -> bool:
    from sbx.cgroups import CgroupMode, detect_mode

    try:
        return detect_mode() is CgroupMode.V2
    except Exception:  # noqa: BLE001 - no cgroup fs at all: not v2
        return False


PURE_V2 = _host_is_pure_v2()
# "v2" on a v1/hybrid host: cgroup2 over /sys/fs/cgroup in a private mount namespace
# (needs root to mount); on a pure v2 host the plain variant is already v2.
VARIANTS = ["host"] + ([] if PURE_V2 or ROOTLESS else ["v2"])
V2_WRAP = ["unshare", "-m", "--propagation", "private", "sh", "-c",
           'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"', "sh"]


@dataclass
class Cli:
    """The ``sbx`` command in the module's store, on the host's cgroups or (``v2``) with
    cgroup2 over /sys/fs/cgroup."""

    env: dict[str, str]
    v2: bool

    def argv(self, *args: str) -> list[str]:
        base = [sys.executable, "-m", "sbx", *args]
        return [*V2_WRAP, *base] if self.v2 else base

    def run(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def ok(self, *args: str, timeout: float = 90) -> str:
        r = self.run(*args, timeout=timeout)
        assert r.returncode == 0, f"sbx {' '.join(args)} exited {r.returncode}: {r.stderr}"
        return r.stdout

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    @property
    def v2_cgroups(self) -> bool:
        return self.v2 or PURE_V2

    def remove_all(self) -> None:
        ids = self.run("ps", "-a", "-q", "--no-trunc").stdout.split()
        if ids:
            self.run("rm", "-f", *ids)


@pytest.fixture(params=VARIANTS)
def cli(request, sbx):  # type: ignore[no-untyped-def]
    c = Cli(sbx.env, request.param == "v2")
    yield c
    c.remove_all()  # (through the same cgroup view the containers were made with)


def _cgroup_version(cli: Cli) -> str:
    return json.loads(cli.ok("info", "--format", "json"))["CgroupVersion"]


# -- the attack ------------------------------------------------------------------

# One line (it is also a Dockerfile RUN): every cgroup file that would move this shell or
# lift a limit, a new cgroup, and a few sysfs files, each written with a bogus value (so
# nothing changes even where a write were allowed); then the cgroup the shell is in.
ATTACK = (
    "for f in /sys/fs/cgroup/cgroup.procs /sys/fs/cgroup/*/cgroup.procs /sys/fs/cgroup/tasks "
    "/sys/fs/cgroup/*/tasks /sys/fs/cgroup/cgroup.subtree_control /sys/fs/cgroup/memory.max "
    "/sys/fs/cgroup/pids.max /sys/fs/cgroup/*/memory.limit_in_bytes /sys/fs/cgroup/*/pids.max "
    "/sys/fs/cgroup/*/devices.allow; do [ -e $f ] || continue; "
    "if err=$( (echo $$ > $f) 2>&1 ); then echo WROTE-CG $f; else echo REFUSED-CG $f $err; fi; "
    "done; "
    "for d in /sys/fs/cgroup/escape /sys/fs/cgroup/memory/escape; do [ -d ${d%/*} ] || continue; "
    "if err=$(mkdir $d 2>&1); then echo WROTE-CG $d; else echo REFUSED-CG $d $err; fi; done; "
    "for f in /sys/kernel/mm/transparent_hugepage/enabled /sys/class/net/lo/tx_queue_len "
    "/sys/kernel/uevent_helper /sys/module/printk/parameters/time /sys/power/state; do "
    "[ -e $f ] || continue; "
    "if err=$( (echo bogus-value > $f) 2>&1 ); then echo WROTE-SYS $f; "
    "else echo REFUSED-SYS $f $err; fi; done; "
    "sed 's/^/CG /' /proc/self/cgroup; echo ATTACK-DONE"
)


def _check_refused(out: str) -> None:
    assert "ATTACK-DONE" in out, out
    lines = out.splitlines()
    assert not [x for x in lines if x.startswith("WROTE")], out
    refused = [x for x in lines if x.startswith("REFUSED")]
    assert any("cgroup.procs" in x for x in refused), out
    assert any(x.startswith("REFUSED-SYS") for x in refused), out
    for x in refused:
        assert "Read-only file system" in x, x
    # inside its cgroup namespace the shell is at the root of every hierarchy
    for x in lines:
        if x.startswith("CG "):
            assert x.rsplit(":", 1)[1] == "/", out


def _marker() -> str:
    return f"{random.randint(40, 59)}.{random.randint(100000, 999999)}"


def _find(marker: str, timeout: float = 30) -> int:
    """The host pid of the container's ``sleep <marker>`` (found by its command line, not
    by its cgroup, which is what is checked)."""
    want = f"sleep\0{marker}\0".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in Path("/proc").iterdir():
            if p.name.isdigit():
                try:
                    if (p / "cmdline").read_bytes() == want:
                        return int(p.name)
                except OSError:
                    continue
        time.sleep(0.05)
    raise AssertionError(f"no process 'sleep {marker}' appeared")


def _host_cgroup(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, ctrls, path = line.split(":", 2)
        out[ctrls] = path
    return out


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _check_still_in_cgroup(cli: Cli, pid: int, cid: str | None, reference: int) -> None:
    """Seen from the host, ``pid`` is where sbx put it: ``sbx/<cid>`` in the hierarchies
    sbx manages (rootless without cgroups: the cgroup of ``reference``, its parent: the
    monitor, or the exec joiner)."""
    cg = _host_cgroup(pid)
    if cid is None and cli.v2_cgroups:
        m = SBX_ID.search(cg[""])
        assert m, cg
        cid = m.group(1)
    managed = [""] if cli.v2_cgroups else ["devices", "memory", "pids", ""]
    if ROOTLESS and _cgroup_version(cli) == "none":
        ref = _host_cgroup(reference)
        assert cg == ref, (cg, ref)
        return
    for key in managed:
        path = cg.get(key)
        assert path is not None, cg
        m = SBX_ID.search(path)
        assert m, (key, cg)
        if cid is None:
            cid = m.group(1)
        assert m.group(1) == cid, (key, cg)


def _logs_until(cli: Cli, cid: str, text: str, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = cli.ok("logs", cid)
        if text in out or time.monotonic() > deadline:
            return out
        time.sleep(0.1)


@pytest.mark.parametrize("mode", ["default", "host", "container", "exec"])
def test_cgroupfs_and_sysfs_writes_fail_and_the_container_stays_in_its_cgroup(cli, mode):  # type: ignore[no-untyped-def]
    marker = _marker()
    net: list[str] = []
    if mode == "host":
        net = ["--network", "host"]
    elif mode == "container":
        cli.ok("run", "-d", "--name", "netowner", "bb", "sleep", "120")
        net = ["--network", "container:netowner"]
    if mode == "exec":
        cid = cli.ok("run", "-d", "bb", "sleep", "120").strip()
        proc = cli.popen("exec", cid, "sh", "-c", f"{ATTACK}; exec sleep {marker}")
        pid = _find(marker)
        try:
            assert proc.stdout is not None
            out = ""
            for line in proc.stdout:
                out += line
                if "ATTACK-DONE" in line:
                    break
            _check_refused(out)
            _check_still_in_cgroup(cli, pid, cid, reference=_ppid(pid))
        finally:
            os.kill(pid, signal.SIGKILL)  # the sleep we started (wherever it went)
            proc.wait(timeout=30)
        return
    cid = cli.ok("run", "-d", *net, "bb", "sh", "-c", f"{ATTACK}; exec sleep {marker}").strip()
    pid = _find(marker)
    try:
        _check_refused(_logs_until(cli, cid, "ATTACK-DONE"))
        _check_still_in_cgroup(cli, pid, cid, reference=_ppid(pid))
    finally:
        os.kill(pid, signal.SIGKILL)


@pytest.mark.root_only("sbx build needs root")
def test_a_build_run_step_cannot_write_cgroups_or_sysfs(cli, tmp_path):  # type: ignore[no-untyped-def]
    marker = f"2.{random.randint(100000, 999999)}"  # short: the build waits for it
    (tmp_path / "Dockerfile").write_text(f"FROM bb\nRUN {ATTACK}; sleep {marker}\n")
    proc = cli.popen("build", "--no-cache", "-t", "h3-attack", str(tmp_path))
    try:
        pid = _find(marker)
        _check_still_in_cgroup(cli, pid, None, reference=_ppid(pid))
    finally:
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    _check_refused(out)
    cli.run("rmi", "h3-attack")


# -- /sys is a fresh sysfs ---------------------------------------------------------

ALLOWED_UNDER_SYS = ("/sys/fs/cgroup", "/sys/firmware", "/sys/devices/virtual/powercap")


def _mountinfo(cli: Cli, *args: str) -> list[list[str]]:
    out = cli.ok("run", "--rm", *args, "bb", "cat", "/proc/self/mountinfo")
    return [line.split() for line in out.splitlines()]


@pytest.mark.parametrize("mode", ["default", "host", "container"])
def test_sys_is_a_fresh_read_only_sysfs(cli, mode):  # type: ignore[no-untyped-def]
    args: list[str] = []
    if mode == "host":
        args = ["--network", "host"]
    elif mode == "container":
        cli.ok("run", "-d", "--name", "netowner2", "bb", "sleep", "120")
        args = ["--network", "container:netowner2"]
    mounts = _mountinfo(cli, *args)
    under = [m for m in mounts if m[4] == "/sys" or m[4].startswith("/sys/")]
    sys_ = [m for m in under if m[4] == "/sys"]
    assert len(sys_) == 1, under
    fields = sys_[0]
    fstype = fields[fields.index("-") + 1]
    assert fields[5].split(",")[0] == "ro", fields
    if ROOTLESS and mode == "host":
        # a user namespace may not mount a sysfs of the host's network namespace: the
        # host's is bound, and read-only in every submount (mount_setattr AT_RECURSIVE)
        for m in under:
            assert m[5].split(",")[0] == "ro", m
        return
    assert fstype == "sysfs" and fields[3] == "/", fields
    for m in under:
        assert m[4] == "/sys" or m[4].startswith(ALLOWED_UNDER_SYS), \
            f"a host submount under /sys leaked in: {m}"
        if m[4].startswith("/sys/fs/cgroup"):
            assert m[5].split(",")[0] == "ro", m
            assert m[m.index("-") + 1] in ("tmpfs", "cgroup", "cgroup2"), m


def test_privileged_gets_writable_sys_as_docker(cli):  # type: ignore[no-untyped-def]
    mounts = _mountinfo(cli, "--privileged")
    for m in mounts:
        if m[4] == "/sys" or m[4].startswith("/sys/fs/cgroup"):
            assert m[5].split(",")[0] == "rw", m


# -- the container's own cgroup ------------------------------------------------------

def _limit_file(cli: Cli) -> str:
    return "/sys/fs/cgroup/memory.max" if cli.v2_cgroups else "/sys/fs/cgroup/memory/memory.limit_in_bytes"


@pytest.mark.parametrize("mode", ["default", "host", "exec", "cgroupns-host"])
def test_the_container_reads_its_own_memory_limit(sbx, mode):  # type: ignore[no-untyped-def]
    cli = Cli(sbx.env, False)  # the host's cgroups (v2 has no memory controller in the trick)
    if ROOTLESS and _cgroup_version(cli) == "none":
        r = cli.run("run", "--rm", "-m", "64m", "bb", "true")
        assert r.returncode == 125 and "cannot apply resource limits" in r.stderr, r.stderr
        return
    f = _limit_file(cli)
    args = {"default": [], "host": ["--network", "host"], "exec": [],
            "cgroupns-host": ["--cgroupns", "host"]}[mode]
    try:
        if mode == "exec":
            cid = cli.ok("run", "-d", "-m", "64m", "bb", "sleep", "60").strip()
            out = cli.ok("exec", cid, "sh", "-c", f"cat {f}; cat /proc/self/cgroup")
        else:
            out = cli.ok("run", "--rm", "-m", "64m", *args, "bb", "sh", "-c",
                         f"cat {f}; cat /proc/self/cgroup")
    finally:
        cli.remove_all()
    lines = out.splitlines()
    assert lines[0] == str(64 * 1024 * 1024), out
    paths = [x.split(":", 2)[2] for x in lines[1:]]
    if mode == "cgroupns-host":  # the host's view: the container's cgroup by its path
        key = "0::" if PURE_V2 else ":memory:"
        assert SBX_ID.search(next(x for x in lines[1:] if key in x).split(":", 2)[2]), out
    else:
        assert set(paths) == {"/"}, out  # 0::/ on v2, / everywhere on v1


def test_cgroupns_host_binds_only_the_containers_own_cgroup(cli):  # type: ignore[no-untyped-def]
    base = "/sys/fs/cgroup" if cli.v2_cgroups else "/sys/fs/cgroup/pids"
    managed = not (ROOTLESS and _cgroup_version(cli) == "none")
    cid = cli.ok("run", "-d", "--cgroupns", "host", "bb", "sleep", "60").strip()
    if managed:  # its own cgroup has no children: the host's tree (sbx/...) is not there
        assert "sbx" not in cli.ok("exec", cid, "ls", base).split()
    out = cli.ok("exec", cid, "sh", "-c", f"(echo $$ > {base}/cgroup.procs) 2>&1; echo rc=$?")
    assert "Read-only file system" in out and "rc=1" in out, out
    seen = 0
    for line in cli.ok("exec", cid, "cat", "/proc/self/mountinfo").splitlines():
        f = line.split()
        if f[4].startswith("/sys/fs/cgroup") and f[f.index("-") + 1] in ("cgroup", "cgroup2"):
            seen += 1
            assert f[5].split(",")[0] == "ro", line
            if managed and (cli.v2_cgroups or f[4].endswith(("/pids", "/memory", "/devices"))):
                assert f[3].endswith(f"/sbx/{cid}"), line
    assert seen, "no cgroup mount at /sys/fs/cgroup"
    assert json.loads(cli.ok("inspect", cid))[0]["HostConfig"]["CgroupnsMode"] == "host"


def test_exec_joins_the_cgroup_namespace(cli):  # type: ignore[no-untyped-def]
    cid = cli.ok("run", "-d", "bb", "sleep", "60").strip()
    out = cli.ok("exec", cid, "cat", "/proc/self/cgroup")
    assert {x.split(":", 2)[2] for x in out.splitlines()} == {"/"}, out
    pid = json.loads(cli.ok("inspect", cid))[0]["State"]["Pid"]
    assert os.readlink(f"/proc/{pid}/ns/cgroup") != os.readlink("/proc/self/ns/cgroup")
    assert json.loads(cli.ok("inspect", cid))[0]["HostConfig"]["CgroupnsMode"] == "private"
