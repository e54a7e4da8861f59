"""The device policy without root: the rules, and the cgroup v2 program they compile to,
run by a small interpreter of the instructions it may contain (any other opcode fails)."""

from __future__ import annotations

import itertools
import struct

import pytest
from sbx.cgroups import CgroupMode, Resources, V2Manager, open_manager
from sbx.cgroups.devices import DEFAULT_RULES, DeviceRule, allowed, assembled, program
from sbx.errors import CgroupError, InvalidArgument
from sbx.linux import bpf

BLOCK, CHAR = bpf.BPF_DEVCG_DEV_BLOCK, bpf.BPF_DEVCG_DEV_CHAR
ACCESS = {"m": 1, "r": 2, "w": 4}
U64 = (1 << 64) - 1
U32 = (1 << 32) - 1


def run(code: bytes, kind: str, major: int, minor: int, access: str) -> int:
    """Execute a device program on one request (struct bpf_cgroup_dev_ctx)."""
    access_type = (sum(ACCESS[c] for c in access) << 16) | (BLOCK if kind == "b" else CHAR)
    ctx = struct.pack("=III", access_type, major, minor)
    regs = [0] * 11
    insns = bpf.decode(code)
    pc, steps = 0, 0
    while True:
        steps += 1
        assert steps < 10_000 and 0 <= pc < len(insns), "ran off the program"
        i = insns[pc]
        pc += 1
        if i.code == 0x61:      # ldx w from the context (r1) only
            assert i.src == bpf.R1 and i.off in (0, 4, 8)
            regs[i.dst] = struct.unpack_from("=I", ctx, i.off)[0]
        elif i.code == 0x54:    # w &= imm
            regs[i.dst] = regs[i.dst] & i.imm & U32
        elif i.code == 0x74:    # w >>= imm
            regs[i.dst] = (regs[i.dst] & U32) >> i.imm
        elif i.code == 0xB4:    # w = imm
            regs[i.dst] = i.imm & U32
        elif i.code == 0xBC:    # w = w_src
            regs[i.dst] = regs[i.src] & U32
        elif i.code == 0x55:    # if r != imm (sign-extended) goto
            if regs[i.dst] != i.imm & U64:
                pc += i.off
        elif i.code == 0x5D:    # if r != r_src goto
            if regs[i.dst] != regs[i.src]:
                pc += i.off
        elif i.code == 0x95:
            return regs[0]
        else:
            pytest.fail(f"unexpected opcode {i.code:#x} at {pc - 1}")


REQUESTS = list(itertools.product(
    "cb", (1, 5, 10, 136, 254), (0, 1, 2, 3, 5, 7, 8, 9, 200, 229),
    ("r", "w", "m", "rw", "rwm")))


@pytest.mark.parametrize("rules", [
    DEFAULT_RULES,
    (*DEFAULT_RULES, DeviceRule("c", 10, 229, "rw"), DeviceRule("b", 254, 0, "r")),
    (DeviceRule("a", None, None, "r"),),
    (DeviceRule("a", 1, None, "wm"), DeviceRule("b", None, 0, "rwm")),
    (),
])
def test_program_decides_as_the_rules(rules):
    code = assembled(rules)
    for req in REQUESTS:
        assert run(code, *req) == int(allowed(rules, *req)), (req, rules)


def test_default_policy_refuses_host_disks_and_allows_the_usual_nodes():
    code = assembled(DEFAULT_RULES)
    assert run(code, "b", 254, 0, "m") == 1          # mknod of any node
    for access in ("r", "w", "rw"):
        assert run(code, "b", 254, 0, access) == 0    # but not opening it
        assert run(code, "c", 10, 229, access) == 0   # fuse is not in Docker's list
    for major, minor in ((1, 3), (1, 5), (1, 7), (1, 8), (1, 9), (5, 0), (5, 1), (5, 2),
                         (136, 0), (136, 77), (10, 200)):
        assert run(code, "c", major, minor, "rw") == 1, (major, minor)


def test_read_only_device_refuses_writes():
    code = assembled((*DEFAULT_RULES, DeviceRule("c", 10, 229, "r")))
    assert run(code, "c", 10, 229, "r") == 1
    assert run(code, "c", 10, 229, "w") == 0
    assert run(code, "c", 10, 229, "rw") == 0


def test_known_encoding_of_one_rule():
    insns = program([DeviceRule("c", 1, 3, "rw")])
    body = bpf.assemble(insns[6:])
    assert body == bytes.fromhex(
        "5502070002000000"   # if r2 != 2 (char) goto +7
        "bc31000000000000"   # w1 = w3
        "5401000006000000"   # w1 &= r|w
        "5d31040000000000"   # if r1 != r3 goto +4
        "5504030001000000"   # if r4 != 1 goto +3
        "5505020003000000"   # if r5 != 3 goto +2
        "b400000001000000"   # w0 = 1
        "9500000000000000"   # exit
        "b400000000000000"   # w0 = 0
        "9500000000000000")  # exit
    assert bpf.decode(bpf.assemble(insns)) == insns


@pytest.mark.parametrize(("text", "rule"), [
    ("c 1:3 rwm", DeviceRule("c", 1, 3, "rwm")),
    ("b *:* m", DeviceRule("b", None, None, "m")),
    ("c 136:* wr", DeviceRule("c", 136, None, "rw")),
    ("a", DeviceRule("a")),
])
def test_rule_text_round_trip(text, rule):
    assert DeviceRule.parse(text) == rule
    assert DeviceRule.parse(str(rule)) == rule


@pytest.mark.parametrize("text", ["x 1:3 rwm", "c 1:3 rwx", "c 1:3 rr", "c 1 rwm", "c 5000:1 r",
                                  "c -1:1 r", ""])
def test_bad_rules_are_refused(text):
    with pytest.raises(InvalidArgument):
        DeviceRule.parse(text)


def test_v1_and_v2_share_dockers_list():
    assert [str(r) for r in DEFAULT_RULES] == [
        "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm",
        "c 1:9 rwm", "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm"]
    assert Resources().devices == DEFAULT_RULES and Resources().is_empty()


# -- the v2 manager attaches it ---------------------------------------------------------
def _v2(root, files, **kw) -> V2Manager:
    m = open_manager("sbx/c1", root=root, mode=CgroupMode.V2, files=files)
    assert isinstance(m, V2Manager)
    return m


def test_v2_attaches_the_program_of_the_policy(v2_root, fake_files):
    extra = DeviceRule("c", 10, 229, "rw")
    _v2(v2_root, fake_files).create(Resources(devices=(*DEFAULT_RULES, extra)))
    assert fake_files.device_programs == {
        v2_root / "sbx/c1": assembled((*DEFAULT_RULES, extra))}


def test_v2_privileged_has_no_program(v2_root, fake_files):
    _v2(v2_root, fake_files).create(Resources(devices=None))
    assert fake_files.device_programs == {}


def test_v2_without_controllers_still_gets_the_program(tmp_path, fake_files):
    root = tmp_path / "bare"
    fake_files.add_v2(root, "")      # a hybrid host's cgroup2: no controllers at all
    _v2(root, fake_files).create(Resources())
    assert list(fake_files.device_programs) == [root / "sbx/c1"]


def test_v2_delegated_subtree_attaches_nothing(tmp_path, fake_files):
    m = V2Manager("sbx/c1", tmp_path / "cg", files=fake_files, device_program=False)
    fake_files.add_v2(tmp_path / "cg", "cpu memory pids")
    m.create(Resources())
    assert fake_files.device_programs == {}


def test_v2_program_failure_is_an_error_and_nothing_is_left(v2_root, fake_files, monkeypatch):
    import errno

    from sbx.cgroups import v2

    monkeypatch.setattr(v2, "_in_user_namespace", lambda: False)
    fake_files.fail_write[v2_root / "sbx/c1"] = errno.EPERM
    with pytest.raises(CgroupError) as info:
        _v2(v2_root, fake_files).create(Resources())
    assert "device policy" in info.value.message
    assert not (v2_root / "sbx").exists()
    monkeypatch.setattr(v2, "_in_user_namespace", lambda: True)   # as runc: skipped there
    _v2(v2_root, fake_files).create(Resources())
    assert (v2_root / "sbx/c1").is_dir()
