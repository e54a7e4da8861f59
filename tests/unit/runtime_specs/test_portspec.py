"""-p and --expose parsing like docker/go-connections nat.ParsePortSpec."""

from __future__ import annotations

import pytest
from sbx.errors import InvalidArgument
from sbx.runtime.portspec import (
    PortBinding,
    parse_expose,
    parse_port_range,
    parse_publish,
    split_proto_port,
)

B = PortBinding


@pytest.mark.parametrize("text, bindings", [
    ("6379", [B("0.0.0.0", 0, 6379, "tcp")]),
    ("8080:80", [B("0.0.0.0", 8080, 80, "tcp")]),
    ("127.0.0.1::6379", [B("127.0.0.1", 0, 6379, "tcp")]),
    ("127.0.0.1:8080:80", [B("127.0.0.1", 8080, 80, "tcp")]),
    ("[::1]:8080:80", [B("::1", 8080, 80, "tcp")]),
    ("::1:8080:80", [B("::1", 8080, 80, "tcp")]),
    ("[::1]::80/udp", [B("::1", 0, 80, "udp")]),
    ("53:53/udp", [B("0.0.0.0", 53, 53, "udp")]),
    ("53:53/UDP", [B("0.0.0.0", 53, 53, "udp")]),
    ("80/", [B("0.0.0.0", 0, 80, "tcp")]),
    ("8080-8081:80-81", [B("0.0.0.0", 8080, 80), B("0.0.0.0", 8081, 81)]),
    ("80-81", [B("0.0.0.0", 0, 80), B("0.0.0.0", 0, 81)]),
    ("8000-8010:80", [B("0.0.0.0", 8000, 80, "tcp", 8010)]),
    ("127.0.0.1:8000-8001:80-81/udp", [B("127.0.0.1", 8000, 80, "udp"), B("127.0.0.1", 8001, 81, "udp")]),
    ("0:80", [B("0.0.0.0", 0, 80)]),
])
def test_parse_publish(text: str, bindings: list[PortBinding]) -> None:
    assert parse_publish(text) == bindings


def test_default_host_ip_is_the_callers() -> None:
    assert parse_publish("6379", "127.0.0.1") == [B("127.0.0.1", 0, 6379)]
    assert parse_publish("10.0.0.1::6379", "127.0.0.1") == [B("10.0.0.1", 0, 6379)]
    assert PortBinding.parse("80", "127.0.0.1") == [B("127.0.0.1", 0, 80)]
    assert B("0.0.0.0", 0, 80, "udp").port_key == "80/udp"


@pytest.mark.parametrize("text, message", [
    ("abc", "invalid containerPort: abc"),
    ("8080:abc", "invalid containerPort: abc"),
    ("0", "invalid containerPort: 0"),
    ("70000", "invalid containerPort: 70000"),
    ("81-80", "invalid containerPort: 81-80"),
    ("x:80", "Invalid hostPort: x"),
    ("99999:80", "Invalid hostPort: 99999"),
    ("1.2.3:80:80", "invalid IP address: 1.2.3"),
    ("[::1:80:80", "invalid IP address [::1: missing ']' in address"),
    ("8080:", "no port specified: 8080:<empty>"),
    ("", "no port specified: <empty>"),
    ("8080-8082:80-81", "invalid ranges specified for container and host Ports: 80-81 and 8080-8082"),
    ("80/sctp", "invalid proto: sctp"),
    ("80/icmp", "invalid proto: icmp"),
])
def test_parse_publish_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_publish(text)
    assert info.value.message == message
    assert info.value.hint


@pytest.mark.parametrize("text, ports", [
    ("6379", [(6379, "tcp")]), ("6379/tcp", [(6379, "tcp")]), ("53/udp", [(53, "udp")]),
    ("8000-8002", [(8000, "tcp"), (8001, "tcp"), (8002, "tcp")]),
])
def test_parse_expose(text: str, ports: list[tuple[int, str]]) -> None:
    assert parse_expose(text) == ports


@pytest.mark.parametrize("text, message", [
    ("8080:80", "invalid port format for --expose: 8080:80"),
    ("abc", "invalid range format for --expose: abc, error: abc"),
    ("80/sctp", "invalid proto: sctp"),
])
def test_parse_expose_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_expose(text)
    assert info.value.message == message


@pytest.mark.parametrize("raw, out", [
    ("80/tcp", ("tcp", "80")), ("80", ("tcp", "80")), ("80/", ("tcp", "80")), ("", ("", "")),
    ("/udp", ("", "")), ("80/udp", ("udp", "80")),
])
def test_split_proto_port(raw: str, out: tuple[str, str]) -> None:
    assert split_proto_port(raw) == out


def test_parse_port_range() -> None:
    assert parse_port_range("80") == (80, 80)
    assert parse_port_range("80-90") == (80, 90)
    for bad in ("", "a-b", "90-80", "-1", "1-2-3"):
        with pytest.raises(ValueError):
            parse_port_range(bad)
