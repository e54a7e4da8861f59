"""Seccomp: Docker's default profile in every container, exec and build step.

Without it, ``unshare -Urm`` in a container gives a full capability set in a new user
namespace that can mount; keyctl, perf_event_open, userfaultfd and personality are open.
A static probe (``probe.py``) makes each raw syscall and prints its errno; the profile
answers EPERM (its default) where Docker's does, ENOSYS for clone3, and lets the same
calls through with ``--privileged`` or ``--security-opt seccomp=unconfined``."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from tests.integration.security import cprobes

pytestmark = pytest.mark.integration

REFUSED = ("unshare_user", "unshare_mnt", "clone_newuser", "mount", "keyctl", "add_key",
           "request_key", "perf_event_open", "userfaultfd", "personality_norandom",
           "socket_vsock")
ALLOWED = ("clone_plain", "personality_linux32", "socket_inet", "mkdir")
OPENED = ("unshare_user", "clone_newuser", "keyctl", "add_key", "userfaultfd",
          "personality_norandom")


@pytest.fixture(scope="module")
def probe_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cprobes.build("syscalls", tmp_path_factory.mktemp("probe"))


def _probe(sbx, probe_bin: Path, *flags: str, names=REFUSED + ALLOWED + ("clone3",)) -> dict[str, int]:
    out = sbx.ok("run", "--rm", *flags, "-v", f"{probe_bin}:/probe:ro", "bb", "/probe", *names)
    return cprobes.results(out)


def _status(sbx, *flags: str) -> dict[str, str]:
    out = sbx.ok("run", "--rm", *flags, "bb", "cat", "/proc/self/status")
    return {k: v.strip() for k, _, v in (ln.partition(":") for ln in out.splitlines())}


def test_default_profile_refuses_what_dockers_refuses(sbx, probe_bin):
    got = _probe(sbx, probe_bin)
    assert {n: got[n] for n in REFUSED} == {n: errno.EPERM for n in REFUSED}
    assert got["clone3"] == errno.ENOSYS  # so libc falls back to clone, whose flags are checked
    assert {n: got[n] for n in ALLOWED} == {n: 0 for n in ALLOWED}
    st = _status(sbx)
    assert st["Seccomp"] == "2" and st["Seccomp_filters"] == "1"


def test_unshare_Urm_is_refused(sbx):
    r = sbx.run("run", "--rm", "bb", "unshare", "-Urm", "sh", "-c", "mount -t tmpfs none /tmp && echo MOUNTED")
    assert r.returncode != 0 and "MOUNTED" not in r.stdout
    assert "Operation not permitted" in r.stderr


@pytest.mark.parametrize("flags", [("--privileged",), ("--security-opt", "seccomp=unconfined")])
def test_privileged_and_unconfined_have_no_filter(sbx, probe_bin, flags):
    assert _status(sbx, *flags)["Seccomp"] == "0"
    got = _probe(sbx, probe_bin, *flags, names=(*OPENED, "perf_event_open", "clone3"))
    assert {n: got[n] for n in OPENED} == {n: 0 for n in OPENED}
    assert got["perf_event_open"] != errno.EPERM  # the kernel's perf_event_paranoid decides
    assert got["clone3"] != errno.ENOSYS


def test_capabilities_unlock_their_syscalls(sbx, probe_bin):
    """includes.caps: CAP_SYS_ADMIN opens mount and the namespace calls, not keyctl."""
    got = _probe(sbx, probe_bin, "--cap-add", "SYS_ADMIN",
                 names=("mount", "unshare_mnt", "clone_newuser", "keyctl", "socket_vsock"))
    assert got == {"mount": 0, "unshare_mnt": 0, "clone_newuser": 0,
                   "keyctl": errno.EPERM, "socket_vsock": errno.EPERM}


def test_a_custom_profile_in_dockers_format(sbx, tmp_path):
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]}],
               "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}
    path = tmp_path / "no-mkdir.json"
    path.write_text(json.dumps(profile, indent=2))
    sbx.ok("create", "--name", "nomkdir", "--security-opt", f"seccomp={path}", "bb",
           "sh", "-c", "touch /tmp/file && mkdir /tmp/dir")
    path.unlink()  # the profile is kept with the container, as Docker does
    r = sbx.run("start", "-a", "nomkdir")
    assert r.returncode == 1 and "Permission denied" in r.stderr  # errnoRet 13
    shown = json.loads(sbx.ok("inspect", "-f", "{{json .HostConfig.SecurityOpt}}", "nomkdir"))
    assert len(shown) == 1 and json.loads(shown[0].removeprefix("seccomp=")) == profile
    # an explicit profile applies even to a privileged container (as Docker)
    path.write_text(json.dumps(profile))
    r = sbx.run("run", "--rm", "--privileged", "--security-opt", f"seccomp={path}", "bb", "mkdir", "/tmp/d")
    assert r.returncode == 1 and "Permission denied" in r.stderr


@pytest.mark.parametrize("content", ["{not json", '{"defaultAction": "SCMP_ACT_NOPE"}',
                                     '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 9, "value": 1, "op": "SCMP_CMP_EQ"}]}]}'])
def test_a_bad_profile_is_one_line_naming_the_file(sbx, tmp_path, content):
    path = tmp_path / "bad.json"
    path.write_text(content)
    r = sbx.run("run", "--rm", "--security-opt", f"seccomp={path}", "bb", "true")
    assert r.returncode == 125
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], r.stderr
    r = sbx.run("run", "--rm", "--security-opt", f"seccomp={tmp_path}/missing.json", "bb", "true")
    assert r.returncode == 125 and "missing.json" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_the_filter_is_compiled_once_and_reused(sbx):
    cache = sbx.root / "run" / "seccomp"
    before = {p.name for p in cache.glob("*.bpf")} if cache.is_dir() else set()
    flags = ("--cap-add", "SYS_NICE", "--cap-drop", "MKNOD")  # a capability set of its own
    sbx.ok("run", "--rm", *flags, "bb", "true")
    new = [p for p in cache.glob("*.bpf") if p.name not in before]
    assert len(new) == 1, "one filter compiled for the new capability set"
    stamp = new[0].stat().st_mtime_ns
    os.utime(new[0], ns=(stamp - 10**9, stamp - 10**9))  # older: a rewrite would show
    for _ in range(2):
        sbx.ok("run", "--rm", *flags, "bb", "true")
    assert new[0].stat().st_mtime_ns == stamp - 10**9
    assert {p.name for p in cache.glob("*.bpf")} == before | {new[0].name}
    assert new[0].stat().st_mode & 0o077 == 0


def test_exec_gets_the_containers_filter(sbx, probe_bin):
    bind = ("-v", f"{probe_bin}:/probe:ro")
    sbx.ok("run", "-d", "--name", "confined", *bind, "bb", "sleep", "300")
    sbx.ok("run", "-d", "--name", "free", *bind, "--security-opt", "seccomp=unconfined", "bb", "sleep", "300")
    got = cprobes.results(sbx.ok("exec", "confined", "/probe", *REFUSED))
    assert got == {n: errno.EPERM for n in REFUSED}
    assert "Seccomp:\t2" in sbx.ok("exec", "confined", "cat", "/proc/self/status")
    # Docker: exec --privileged gives every capability, the container's filter stays
    st = sbx.ok("exec", "--privileged", "confined", "cat", "/proc/self/status")
    cap_eff = int(st.split("CapEff:\t", 1)[1].split()[0], 16)
    assert "Seccomp:\t2" in st and cap_eff & (1 << 21)  # CAP_SYS_ADMIN, yet filtered
    assert "Seccomp:\t0" in sbx.ok("exec", "free", "cat", "/proc/self/status")


def test_build_run_steps_get_the_default_profile(sbx, tmp_path):
    (tmp_path / "Dockerfile").write_text(
        "FROM bb\n"
        "RUN grep Seccomp: /proc/self/status > /seccomp.txt\n"
        "RUN if unshare -r true; then echo escaped; else echo refused; fi >> /seccomp.txt\n")
    sbx.ok("build", "-t", "seccomp-build", str(tmp_path), timeout=120)
    out = sbx.ok("run", "--rm", "seccomp-build", "cat", "/seccomp.txt")
    assert out.split() == ["Seccomp:", "2", "refused"]


def test_the_32_bit_syscall_abi_is_filtered_too(sbx, probe_bin):
    """``int 0x80`` reaches the i386 table (unshare is 310 there): the filter covers that
    architecture too (archMap's sub-architectures), so it is no way round."""
    if os.uname().machine != "x86_64":
        from tests.needs import unavailable

        unavailable("the i386 ABI probe is for x86_64 hosts")
    got = _probe(sbx, probe_bin, names=("unshare_user_i386",))
    assert got == {"unshare_user_i386": errno.EPERM}
    free = _probe(sbx, probe_bin, "--security-opt", "seccomp=unconfined", names=("unshare_user_i386",))
    assert free["unshare_user_i386"] in (0, errno.ENOSYS)  # ENOSYS: no IA32 emulation

