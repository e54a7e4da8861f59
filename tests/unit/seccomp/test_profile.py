"""The seccomp profile model (sbx.oci.seccomp) and --security-opt parsing, without root:
Docker's conditions (caps, arches, minKernel), archMap, argument filters, errnos."""

from __future__ import annotations

import json

import pytest
from sbx.errors import InvalidArgument
from sbx.linux.caps import DOCKER_DEFAULT
from sbx.oci.seccomp import ArgCmp, Profile, kernel_version
from sbx.runtime import securityopt

KERNEL = (6, 1)


def _names(policy, action="SCMP_ACT_ALLOW"):
    return {r.name for r in policy.rules if r.action == action}


def _rules(policy, name):
    return [r for r in policy.rules if r.name == name]


@pytest.fixture(scope="module")
def default():
    return Profile.default()


def test_default_profile_is_an_allowlist_with_eperm(default):
    pol = default.resolve(caps=DOCKER_DEFAULT, machine="x86_64", kernel=KERNEL)
    assert (pol.default_action, pol.default_errno) == ("SCMP_ACT_ERRNO", 1)
    allowed = _names(pol)
    assert {"read", "write", "execve", "clone", "socket", "personality"} <= allowed
    for blocked in ("keyctl", "add_key", "request_key", "userfaultfd", "unshare", "setns",
                    "mount", "umount2", "perf_event_open", "bpf", "kexec_load",
                    "init_module", "reboot", "open_by_handle_at", "syslog"):
        assert blocked not in allowed, blocked


def test_archmap_gives_x86_64_its_32_bit_and_x32_sub_architectures(default):
    pol = default.resolve(caps=DOCKER_DEFAULT, machine="x86_64", kernel=KERNEL)
    assert pol.arches == ("SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32")
    arm = default.resolve(caps=DOCKER_DEFAULT, machine="aarch64", kernel=KERNEL)
    assert arm.arches == ("SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM")


def test_includes_arches_use_dockers_names(default):
    x86 = _names(default.resolve(caps=DOCKER_DEFAULT, machine="x86_64", kernel=KERNEL))
    arm = _names(default.resolve(caps=DOCKER_DEFAULT, machine="aarch64", kernel=KERNEL))
    assert "arch_prctl" in x86 and "modify_ldt" in x86 and "arch_prctl" not in arm
    assert "set_tls" in arm and "set_tls" not in x86


def test_clone_is_allowed_only_without_namespace_flags(default):
    pol = default.resolve(caps=DOCKER_DEFAULT, machine="x86_64", kernel=KERNEL)
    (clone,) = _rules(pol, "clone")
    assert clone.args == (ArgCmp(0, 0x7E020000, "SCMP_CMP_MASKED_EQ", 0),)
    clone3 = _rules(pol, "clone3")
    assert [(r.action, r.errno) for r in clone3] == [("SCMP_ACT_ERRNO", 38)]  # ENOSYS


def test_cap_sys_admin_unlocks_mount_clone_and_namespaces(default):
    pol = default.resolve(caps=(*DOCKER_DEFAULT, "SYS_ADMIN"), machine="x86_64", kernel=KERNEL)
    allowed = _names(pol)
    assert {"mount", "umount2", "unshare", "setns", "fsopen", "clone3"} <= allowed
    assert [r.args for r in _rules(pol, "clone")] == [()]   # unconditional now
    assert not [r for r in _rules(pol, "clone3") if r.action != "SCMP_ACT_ALLOW"]
    assert "keyctl" not in allowed  # no capability opens the keyring calls


@pytest.mark.parametrize("cap, syscall", [("SYS_PTRACE", "kcmp"), ("SYS_MODULE", "init_module"),
                                          ("SYS_TIME", "settimeofday"), ("SYS_BOOT", "reboot"),
                                          ("CAP_PERFMON", "perf_event_open"), ("BPF", "bpf"),
                                          ("DAC_READ_SEARCH", "open_by_handle_at")])
def test_each_capability_opens_its_syscalls(default, cap, syscall):
    without = _names(default.resolve(caps=DOCKER_DEFAULT, machine="x86_64", kernel=KERNEL))
    with_cap = _names(default.resolve(caps=(*DOCKER_DEFAULT, cap), machine="x86_64", kernel=KERNEL))
    assert syscall not in without and syscall in with_cap


def test_min_kernel_gates_ptrace(default):
    assert "ptrace" in _names(default.resolve(caps=DOCKER_DEFAULT, machine="x86_64", kernel=(4, 8)))
    assert "ptrace" not in _names(default.resolve(caps=DOCKER_DEFAULT, machine="x86_64", kernel=(4, 4)))
    assert "ptrace" in _names(default.resolve(caps=(*DOCKER_DEFAULT, "SYS_PTRACE"),
                                              machine="x86_64", kernel=(4, 4)))


def test_personality_and_socket_argument_filters(default):
    pol = default.resolve(caps=DOCKER_DEFAULT, machine="x86_64", kernel=KERNEL)
    assert sorted(r.args[0].value for r in _rules(pol, "personality")) == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]
    assert sorted((r.args[0].op, r.args[0].value) for r in _rules(pol, "socket")) == [
        ("SCMP_CMP_EQ", 39), ("SCMP_CMP_GT", 40), ("SCMP_CMP_LT", 38)]  # not AF_ALG, AF_VSOCK


def test_same_argument_twice_becomes_one_rule_each_and_redundant_rules_go():
    p = Profile.parse(json.dumps({
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [
            {"names": ["kill"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 15, "op": "SCMP_CMP_EQ"}]},
            {"names": ["lseek"], "action": "SCMP_ACT_ALLOW",
             "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 0, "op": "SCMP_CMP_EQ"}]},
            {"name": "mkdir", "action": "SCMP_ACT_ERRNO"},           # same as the default
            {"names": ["rmdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
        ]}))
    pol = p.resolve(caps=(), machine="x86_64", kernel=KERNEL)
    assert [len(r.args) for r in _rules(pol, "kill")] == [1, 1]
    assert [len(r.args) for r in _rules(pol, "lseek")] == [2]
    assert _rules(pol, "mkdir") == []
    assert [(r.action, r.errno) for r in _rules(pol, "rmdir")] == [("SCMP_ACT_ERRNO", 13)]


def test_excludes_caps_and_includes_need_all_caps():
    p = Profile.parse(json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_X", "CAP_Y"]}},
        {"names": ["b"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_X"]}},
        {"names": ["c"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
        {"names": ["d"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.0"}},
    ]}))
    assert _names(p.resolve(caps=["X"], machine="x86_64", kernel=KERNEL)) == set()
    assert _names(p.resolve(caps=["X", "Y"], machine="x86_64", kernel=KERNEL)) == {"a"}
    assert _names(p.resolve(caps=[], machine="aarch64", kernel=(4, 19))) == {"b", "c", "d"}


def test_no_default_action_and_no_syscalls_means_unconfined():
    assert Profile.parse("{}").resolve(caps=(), machine="x86_64", kernel=KERNEL) is None


@pytest.mark.parametrize("text, words", [
    ("{oops", "decoding"),
    ('{"defaultAction": "SCMP_ACT_BOGUS"}', "unknown action"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"], "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]}', "both"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}', "NOTIFY"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 0, "op": "SCMP_CMP_WHAT"}]}]}', "operator"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["x"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4"}}]}', "kernel version"),
    ('{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"action": "SCMP_ACT_ALLOW"}]}', "no syscall names"),
])
def test_bad_profiles_are_one_clear_error(text, words):
    with pytest.raises(InvalidArgument) as e:
        Profile.parse(text, "prof.json")
    line = e.value.one_line()
    assert "prof.json" in line and words in line and "\n" not in line


def test_policy_digest_depends_on_the_rules(default):
    a = default.resolve(caps=DOCKER_DEFAULT, machine="x86_64", kernel=KERNEL)
    b = default.resolve(caps=(*DOCKER_DEFAULT, "SYS_ADMIN"), machine="x86_64", kernel=KERNEL)
    assert a.digest() == default.resolve(caps=DOCKER_DEFAULT, machine="x86_64", kernel=KERNEL).digest()
    assert a.digest() != b.digest()


def test_kernel_version():
    assert kernel_version("6.18.44-fc-v1098") == (6, 18)
    assert kernel_version("3.12-1-amd64") == (3, 12)


def test_security_opt_parsing(tmp_path):
    assert securityopt.parse([]) == securityopt.SecurityOptions()
    s = securityopt.parse(["no-new-privileges"])
    assert s.no_new_privs and s.shown == ("no-new-privileges",)
    assert securityopt.parse(["no-new-privileges=true"]).no_new_privs
    assert securityopt.parse(["no-new-privileges:true"]).no_new_privs
    assert not securityopt.parse(["no-new-privileges=false"]).no_new_privs
    assert securityopt.parse(["seccomp=unconfined"]).seccomp == "unconfined"
    assert securityopt.parse(["seccomp=builtin"]).seccomp == ""
    prof = tmp_path / "p.json"
    prof.write_text('{\n  "defaultAction": "SCMP_ACT_ALLOW"\n}\n')
    s = securityopt.parse([f"seccomp={prof}"])
    assert s.seccomp == '{"defaultAction":"SCMP_ACT_ALLOW"}'
    assert s.shown == ('seccomp={"defaultAction":"SCMP_ACT_ALLOW"}',)
    assert securityopt.parse(list(s.shown)).seccomp == s.seccomp  # a stored record re-reads
    s = securityopt.parse(["apparmor=docker-default", "label=disable"])
    assert s.apparmor == "docker-default" and s.labels == ("disable",)
    for bad in ("no-new-privileges=maybe", "bogus", "frobnicate=1"):
        with pytest.raises(InvalidArgument):
            securityopt.parse([bad])
    with pytest.raises(InvalidArgument, match="missing.json"):
        securityopt.parse([f"seccomp={tmp_path}/missing.json"])


def test_lsm_notes(tmp_path):
    s = securityopt.parse(["apparmor=x", "label=type:foo_t"])
    assert securityopt.host_lsms(str(tmp_path)) == frozenset()
    notes = securityopt.notes(s, frozenset())
    assert len(notes) == 2 and "no AppArmor" in notes[0] and "no SELinux" in notes[1]
    (tmp_path / "sys/kernel/security").mkdir(parents=True)
    (tmp_path / "sys/kernel/security/lsm").write_text("lockdown,capability,apparmor\n")
    assert "apparmor" in securityopt.host_lsms(str(tmp_path))
    assert "loads no AppArmor" in securityopt.notes(s, securityopt.host_lsms(str(tmp_path)))[0]
