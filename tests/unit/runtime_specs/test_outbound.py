"""The outbound NAT's pure parts: its command line, the container's resolv.conf, why it
cannot run, and a spec that asks for it."""

from __future__ import annotations

import os

import pytest
from sbx.errors import InvalidArgument
from sbx.runtime import outbound
from sbx.runtime.spec import ContainerSpec, RunOptions, from_image


def test_argv_closes_the_hosts_loopback_and_sandboxes_the_nat():
    argv = outbound.argv("/usr/bin/slirp4netns", 4242, 3, 4)
    assert argv[0] == "/usr/bin/slirp4netns"
    assert "--disable-host-loopback" in argv
    assert {"--configure", "--enable-sandbox", "--enable-seccomp"} <= set(argv)
    assert "--mtu=65520" in argv and "--exit-fd=3" in argv and "--ready-fd=4" in argv
    assert argv[-2:] == ["4242", "tap0"]
    assert not any(a.startswith(("--api-socket", "-a")) for a in argv)  # nothing listens back in


def test_resolv_conf_points_at_the_nats_forwarder_and_keeps_search_and_options():
    host = "# managed\nnameserver 127.0.0.53\nnameserver 10.1.1.1\nsearch corp.example\noptions edns0 trust-ad\n"
    assert outbound.resolv_conf(host) == (
        "nameserver 10.0.2.3\nsearch corp.example\noptions edns0 trust-ad\n")
    assert outbound.resolv_conf("") == "nameserver 10.0.2.3\n"


def test_unavailable_names_a_missing_tool(monkeypatch):
    monkeypatch.setattr(outbound, "find", lambda: None)
    assert outbound.unavailable() == "slirp4netns is not installed (apt-get install slirp4netns)"


def test_unavailable_names_an_unopenable_tun_device(monkeypatch, tmp_path):
    monkeypatch.setattr(outbound, "find", lambda: "/usr/bin/slirp4netns")
    monkeypatch.setattr(outbound, "TUN", str(tmp_path / "missing"))
    assert "does not exist" in outbound.unavailable()  # type: ignore[operator]
    if os.geteuid() != 0:  # root opens a 0600 file anyway
        node = tmp_path / "tun"
        node.write_bytes(b"")
        node.chmod(0o000)
        monkeypatch.setattr(outbound, "TUN", str(node))
        reason = outbound.unavailable()
        assert reason is not None and "cannot open it" in reason and "chmod 0666" in reason


def test_outbound_needs_the_containers_own_network():
    opts = RunOptions(command=("true",), network="host", outbound=True)
    with pytest.raises(InvalidArgument, match="outbound access needs the container's own network"):
        from_image("bb", "sha256:" + "0" * 64, {}, opts, hostname="h")
    spec = from_image("bb", "sha256:" + "0" * 64, {}, RunOptions(command=("true",), outbound=True),
                      hostname="h")
    assert spec.network == "private" and spec.outbound


def test_old_records_load_without_the_field():
    spec = from_image("bb", "sha256:" + "0" * 64, {}, RunOptions(command=("true",)), hostname="h")
    data = spec.to_json()
    del data["outbound"]
    assert ContainerSpec.from_json(data).outbound is False
