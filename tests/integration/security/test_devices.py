"""The device policy, tried as an attacker would: a default container makes a node of a host
block device with CAP_MKNOD (Docker allows the mknod) and must not be able to open it, on
cgroup v1 (the devices controller) and on cgroup v2 (a BPF_PROG_TYPE_CGROUP_DEVICE
program); the usual nodes stay usable; ``--device`` adds a node with the permissions
asked for; ``--privileged`` has no policy.

Every test runs once per cgroup layout this host can show sbx:

- ``host``: sbx as it is (cgroup v1 or hybrid here; pure v2 in the VM pass,
  scripts/vm-test.sh, where this is the v2 test);
- ``v2-private-mount`` (root, on a v1/hybrid host with a cgroup2 hierarchy): each sbx
  command runs in a private mount namespace where cgroup2 is mounted over
  /sys/fs/cgroup, which makes sbx pick its v2 manager on this host (the program needs
  no controller, so the hybrid host's empty cgroup2 is enough).
"""

from __future__ import annotations

import errno
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sbx.cgroups import CgroupMode, detect_mode
from sbx.cgroups.mode import mounts_under
from sbx.errors import CgroupError, KernelError
from sbx.linux import bpf

from tests.needs import unavailable

pytestmark = pytest.mark.integration

ROOTLESS = os.geteuid() != 0
REFUSED = "Operation not permitted"


def _host_mode() -> CgroupMode | None:
    try:
        return detect_mode()
    except CgroupError:
        return None


HOST_MODE = _host_mode()
UNIFIED = next((m.mount_point for m in mounts_under(Path("/sys/fs/cgroup")) if m.is_v2), None)
VARIANTS = ["host"]
if not ROOTLESS and HOST_MODE is not CgroupMode.V2 and UNIFIED is not None:
    VARIANTS.append("v2-private-mount")
V2_VARIANTS = [v for v in VARIANTS if v != "host" or HOST_MODE is CgroupMode.V2] or ["none"]


class Sbx:
    """The module's store, each command run the variant's way."""

    def __init__(self, env, variant: str) -> None:  # type: ignore[no-untyped-def]
        self.env, self.variant = env, variant
        self.v2 = variant == "v2-private-mount" or HOST_MODE is CgroupMode.V2

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "sbx", *args]
        if self.variant == "v2-private-mount":
            argv = ["unshare", "-m", "--propagation", "private", "sh", "-c",
                    'mount -t cgroup2 none /sys/fs/cgroup && exec "$@"', "sh", *argv]
        return subprocess.run(argv, env=self.env.env, capture_output=True, text=True,
                              timeout=timeout)

    def ok(self, *args: str) -> str:
        r = self.run(*args)
        assert r.returncode == 0, f"sbx {' '.join(args)} exited {r.returncode}: {r.stderr}"
        return r.stdout

    def sh(self, *flags: str, script: str) -> subprocess.CompletedProcess[str]:
        return self.run("run", "--rm", *flags, "bb", "sh", "-c", script)


@pytest.fixture(params=VARIANTS)
def sbx2(request, sbx):  # type: ignore[no-untyped-def]
    yield from _variant(request.param, sbx)


@pytest.fixture(params=V2_VARIANTS)
def sbx_v2(request, sbx):  # type: ignore[no-untyped-def]
    """Only the variants where sbx runs its cgroup v2 manager."""
    if request.param == "none":
        unavailable("no cgroup2 hierarchy on this host to test the v2 device program with")
    yield from _variant(request.param, sbx)


def _variant(variant, sbx):  # type: ignore[no-untyped-def]
    s = Sbx(sbx, variant)
    if variant == "v2-private-mount":
        info = s.ok("info")
        assert "Cgroup Version: 2" in info, info   # sbx really took its v2 manager
    yield s
    ids = s.run("ps", "-a", "-q", "--no-trunc").stdout.split()
    if ids:
        s.run("rm", "-f", *ids)


def _root_disk() -> tuple[int, int]:
    """The numbers of the device the host's / is on (mountinfo's major:minor)."""
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4] == "/":
            major, minor = fields[2].split(":")
            return int(major), int(minor)
    raise AssertionError("no / in mountinfo")


@pytest.fixture(scope="module")
def block_devices() -> list[tuple[int, int]]:
    """Block devices to try: the root disk, and (root) one the host itself can open, so
    that a refusal in the container is the policy's, not the host's (some VMs refuse
    even host root its root disk): the first node of /sys/dev/block whose /dev entry
    opens (looked up there, not made in a temp dir, which may be mounted nodev)."""
    devs = [_root_disk()]
    if ROOTLESS:
        return devs
    for entry in sorted(Path("/sys/dev/block").iterdir()):
        major, minor = (int(x) for x in entry.name.split(":"))
        uevent = dict(line.split("=", 1) for line in (entry / "uevent").read_text().split()
                      if "=" in line)
        node = Path("/dev") / uevent.get("DEVNAME", "?")
        try:
            st = node.stat()
            if not stat.S_ISBLK(st.st_mode) or st.st_rdev != os.makedev(major, minor):
                continue
            os.close(os.open(node, os.O_RDONLY))
        except OSError:
            continue
        return [*devs, (major, minor)]
    unavailable("no block device node in /dev opens on the host")
    return devs


def _char_device() -> str:
    """A host character device outside Docker's allowlist that root can open r and w."""
    for path in ("/dev/fuse", "/dev/loop-control", "/dev/kmsg"):
        try:
            os.close(os.open(path, os.O_RDWR))
            return path
        except OSError:
            continue
    unavailable("none of /dev/fuse, /dev/loop-control, /dev/kmsg opens read-write here")
    return ""


def test_mknod_of_a_host_block_device_opens_nothing(sbx2, block_devices):
    for major, minor in block_devices:
        r = sbx2.sh(script=f"mknod /tmp/d b {major} {minor} && echo MADE; "
                           "exec 3</tmp/d && echo OPENED-READ; exec 4<>/tmp/d && echo OPENED-RW")
        assert "OPENED" not in r.stdout, (major, minor, r)
        assert REFUSED in r.stderr, r
        if not ROOTLESS:
            assert "MADE" in r.stdout   # mknod itself is allowed (Docker's "b *:* m")
    # the same for a char device that is not in the list (fuse)
    r = sbx2.sh(script="mknod /tmp/c c 10 229 && exec 3<>/tmp/c && echo OPENED")
    assert "OPENED" not in r.stdout and REFUSED in r.stderr, r


def test_the_usual_nodes_stay_usable(sbx2):
    out = sbx2.ok("run", "--rm", "bb", "sh", "-c",
                  "echo x > /dev/null && echo null; head -c 3 /dev/zero | wc -c; "
                  "head -c 5 /dev/urandom | wc -c; exec 5</dev/random && echo 5; "
                  "echo x > /dev/full 2>/dev/null || echo full-refused-as-full; "
                  "exec 3<>/dev/ptmx && echo ptmx")
    assert out.split() == ["null", "3", "5", "5", "full-refused-as-full", "ptmx"]
    r = sbx2.run("run", "--rm", "-t", "bb", "sh", "-c",
                 "t=$(tty) && echo hi > $t && exec 3<>/dev/tty && echo pts-and-tty-ok")
    assert r.returncode == 0 and "pts-and-tty-ok" in r.stdout, r
    # without a terminal /dev/tty is "no such device", never "not permitted"
    r = sbx2.sh(script="exec 3<>/dev/tty")
    assert r.returncode != 0 and REFUSED not in r.stderr and "No such device" in r.stderr, r


@pytest.mark.root_only("a rootless container reaches --device nodes with the user's own "
                       "permissions; no device cgroup applies in a user namespace")
def test_device_flag_allows_the_node_with_its_permissions(sbx2):
    host = _char_device()
    st = os.stat(host)
    major, minor = os.major(st.st_rdev), os.minor(st.st_rdev)
    out = sbx2.ok("run", "--rm", "--device", host, "bb", "sh", "-c",
                  f"stat -c '%t:%T %a %u' {host}; exec 3<>{host} && echo RW")
    assert out.split() == [f"{major:x}:{minor:x}", f"{stat.S_IMODE(st.st_mode):o}",
                           str(st.st_uid), "RW"]
    r = sbx2.run("run", "--rm", "--device", f"{host}:/dev/mydev:r", "bb", "sh", "-c",
                 "exec 3</dev/mydev && echo READ; exec 4>/dev/mydev && echo WRITE")
    assert "READ" in r.stdout and "WRITE" not in r.stdout and REFUSED in r.stderr, r
    # the node is allowed, not its numbers at another path: mknod of it elsewhere is too
    out = sbx2.ok("run", "--rm", "--device", f"{host}:/dev/mydev:rw", "bb", "sh", "-c",
                  f"mknod /tmp/again c {major} {minor}; exec 3<>/tmp/again && echo RW")
    assert out.strip() == "RW"


def test_device_flag_errors_and_inspect(sbx2):
    cid = sbx2.ok("create", "--device", "/dev/null:/dev/mynull:r", "--device", "/dev/zero",
                  "bb", "true").strip()
    devices = sbx2.ok("inspect", "-f", "{{json .HostConfig.Devices}}", cid).strip()
    assert devices == ('[{"PathOnHost":"/dev/null","PathInContainer":"/dev/mynull",'
                       '"CgroupPermissions":"r"},{"PathOnHost":"/dev/zero",'
                       '"PathInContainer":"/dev/zero","CgroupPermissions":"rwm"}]')
    assert sbx2.ok("inspect", "-f", "{{json .HostConfig.Devices}}",
                   sbx2.ok("create", "bb", "true").strip()).strip() == "[]"
    out = sbx2.ok("start", "-a", cid)
    assert out == ""
    out = sbx2.ok("run", "--rm", "--device", "/dev/null:/dev/mynull", "bb", "sh", "-c",
                  "echo x > /dev/mynull && ls -l /dev/mynull")
    assert out.startswith("crw-rw-rw-") and "1,   3" in out
    for value, words in (("/nonexistent", "no such file or directory"),
                         ("/etc/hostname", "not a device node"),
                         ("/dev/null:/x:rwz", "bad mode specified: rwz"),
                         ("dev/null", "dev/null is not an absolute path")):
        r = sbx2.run("run", "--rm", "--device", value, "bb", "true")
        assert r.returncode == 125 and words in r.stderr, (value, r)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


@pytest.mark.root_only("--privileged in rootless mode cannot open host devices either")
def test_privileged_has_no_device_policy(sbx2, block_devices):
    major, minor = block_devices[-1]
    out = sbx2.ok("run", "--rm", "--privileged", "bb", "sh", "-c",
                  f"mknod /tmp/d b {major} {minor} && exec 3</tmp/d && echo OPENED")
    assert out.strip() == "OPENED"


def _cgroup_of(pid: int) -> Path:
    assert UNIFIED is not None
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        if line.startswith("0::"):
            return UNIFIED / line[3:].strip().lstrip("/")
    raise AssertionError(f"pid {pid} has no cgroup v2 line")


def _programs(cgroup: Path) -> list[int]:
    fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return bpf.prog_query(fd)
    finally:
        os.close(fd)


def _gone(prog_id: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.close(bpf.prog_fd_by_id(prog_id))
        except KernelError as exc:
            if exc.errno == errno.ENOENT:
                return True
            raise
        time.sleep(0.1)
    return False


@pytest.mark.root_only("rootless containers get no device program (bpf(2) needs "
                       "CAP_SYS_ADMIN in the initial user namespace)")
def test_v2_device_program_is_attached_and_freed_with_the_cgroup(sbx_v2, block_devices):
    sbx2 = sbx_v2
    major, minor = block_devices[-1]
    cid = sbx2.ok("run", "-d", "bb", "sleep", "1000").strip()
    pid = int(sbx2.ok("inspect", "-f", "{{.State.Pid}}", cid))
    cgroup = _cgroup_of(pid)
    progs = _programs(cgroup)
    assert len(progs) == 1, (cgroup, progs)
    r = sbx2.run("exec", cid, "sh", "-c",
                 f"mknod /tmp/d b {major} {minor} && exec 3</tmp/d && echo OPENED")
    assert "OPENED" not in r.stdout and REFUSED in r.stderr, r
    sbx2.ok("rm", "-f", cid)
    assert not cgroup.exists()
    assert _gone(progs[0]), f"program {progs[0]} outlived its cgroup"
    cid = sbx2.ok("run", "-d", "--privileged", "bb", "sleep", "1000").strip()
    pid = int(sbx2.ok("inspect", "-f", "{{.State.Pid}}", cid))
    assert _programs(_cgroup_of(pid)) == []
    sbx2.ok("rm", "-f", cid)


@pytest.fixture
def scratch_cgroup():  # type: ignore[no-untyped-def]
    if UNIFIED is None:
        unavailable("no cgroup2 hierarchy on this host")
    path = UNIFIED / f"sbx-test-devices-{os.getpid()}"
    path.mkdir()
    yield path
    path.rmdir()


@pytest.mark.root_only("bpf(2) needs CAP_SYS_ADMIN in the initial user namespace")
def test_program_replaced_on_a_reused_cgroup_and_refusals_quote_the_verifier(scratch_cgroup):
    from sbx.cgroups.devices import DEFAULT_RULES, assembled

    code = assembled(DEFAULT_RULES)
    bpf.replace_device_program(str(scratch_cgroup), code)
    first = _programs(scratch_cgroup)
    bpf.replace_device_program(str(scratch_cgroup), code)
    second = _programs(scratch_cgroup)
    assert len(first) == len(second) == 1 and first != second
    # r0 out of the [0, 1] range a device program must return: the verifier's own words
    with pytest.raises(bpf.BpfLoadError) as info:
        bpf.prog_load(bpf.assemble([bpf.mov32_imm(bpf.R0, 7), bpf.exit_insn()]))
    assert info.value.errno == errno.EINVAL and "R0" in info.value.log
    assert "the verifier said" in info.value.one_line() and "\n" not in info.value.one_line()
