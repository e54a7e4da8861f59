"""--sysctl: only keys of the container's own namespaces (runc's rule), parsed and placed."""

from __future__ import annotations

import pytest
from sbx.errors import InvalidArgument
from sbx.runtime import spec as specmod
from sbx.runtime.sysctls import check, dotted, parse, proc_path


@pytest.mark.parametrize("key", [
    "kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall",
    "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced", "fs.mqueue.msg_max",
    "net.ipv4.ip_forward", "net.core.somaxconn", "net.ipv4.conf.all.rp_filter",
    "kernel.domainname",
])
def test_namespaced_keys_accepted(key: str) -> None:
    check(((key, "1"),))


@pytest.mark.parametrize("key, why", [
    ("vm.swappiness", "is not in a separate kernel namespace"),
    ("kernel.pid_max", "is not in a separate kernel namespace"),
    ("kernel.core_pattern", "is not in a separate kernel namespace"),
    ("fs.file-max", "is not in a separate kernel namespace"),
    ("user.max_user_namespaces", "is not in a separate kernel namespace"),
    ("kernel.hostname", "conflicts with --hostname"),
    ("net", "invalid --sysctl key"),
    ("net..x", "invalid --sysctl key"),
    ("net.ipv4/../../../etc", "invalid --sysctl key"),
])
def test_other_keys_refused_with_the_reason(key: str, why: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        check(((dotted(key), "1"),))
    assert why in info.value.one_line()
    assert "\n" not in info.value.one_line()


def test_net_keys_refused_in_the_hosts_network() -> None:
    check((("net.ipv4.ip_forward", "1"),), network="container:abc")
    check((("net.ipv4.ip_forward", "1"),), network="none")
    with pytest.raises(InvalidArgument, match="host's network namespace"):
        check((("net.ipv4.ip_forward", "1"),), network="host")


def test_ipc_keys_refused_in_the_hosts_ipc() -> None:
    check((("kernel.shmmax", "1"),), ipc="shareable")
    with pytest.raises(InvalidArgument, match="host's IPC namespace"):
        check((("kernel.shmmax", "1"),), ipc="host")
    with pytest.raises(InvalidArgument, match="host's IPC namespace"):
        check((("fs.mqueue.msg_max", "1"),), ipc="host")


def test_parse_and_paths() -> None:
    assert parse(["net.ipv4.ip_forward=1", "kernel.shmmax=4096", "net.ipv4.ip_forward=0"]) == (
        ("net.ipv4.ip_forward", "0"), ("kernel.shmmax", "4096"))
    assert parse(["kernel.sem=250 32000 100 128"]) == (("kernel.sem", "250 32000 100 128"),)
    # the slash form may hold dots inside a component (a VLAN interface)
    key = dotted("net/ipv4/conf/eth0.100/forwarding")
    check(((key, "1"),))
    assert proc_path(key) == "sys/net/ipv4/conf/eth0.100/forwarding"
    assert proc_path("net.ipv4.ip_forward") == "sys/net/ipv4/ip_forward"
    with pytest.raises(InvalidArgument, match="expected KEY=VALUE"):
        parse(["net.ipv4.ip_forward"])


def test_spec_validates_and_stores_sysctls() -> None:
    cfg = {"Cmd": ["sh"]}
    opts = specmod.RunOptions(sysctls=(("net/ipv4/ip_forward", "1"),))
    s = specmod.from_image("bb", "sha256:x", cfg, opts, hostname="h")
    assert s.sysctls == (("net.ipv4.ip_forward", "1"),)
    assert specmod.ContainerSpec.from_json(s.to_json()).sysctls == s.sysctls
    assert s.cgroupns == "private"
    with pytest.raises(InvalidArgument, match="host's network namespace"):
        specmod.from_image("bb", "sha256:x", cfg, specmod.RunOptions(
            network="host", sysctls=(("net.ipv4.ip_forward", "1"),)), hostname="h")
    with pytest.raises(InvalidArgument, match="not in a separate kernel namespace"):
        specmod.from_image("bb", "sha256:x", cfg, specmod.RunOptions(
            sysctls=(("vm.overcommit_memory", "1"),)), hostname="h")


def test_cgroupns_flag_values() -> None:
    assert specmod.normalize_cgroupns("") == "private"
    assert specmod.normalize_cgroupns("host") == "host"
    with pytest.raises(InvalidArgument, match="invalid --cgroupns"):
        specmod.normalize_cgroupns("shared")


def test_old_records_load_with_defaults() -> None:
    cfg = {"Cmd": ["sh"]}
    d = specmod.from_image("bb", "sha256:x", cfg, specmod.RunOptions(), hostname="h").to_json()
    del d["sysctls"], d["cgroupns"]
    s = specmod.ContainerSpec.from_json(d)
    assert (s.sysctls, s.cgroupns) == ((), "private")
