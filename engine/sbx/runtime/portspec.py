"""Published and exposed ports: ``-p [ip:][hostPort:]containerPort[/proto]`` and ``--expose``.

Follows docker/go-connections ``nat.ParsePortSpec``: ranges ("8080-8081:80-81"), an
empty host port for a random one ("127.0.0.1::6379"), IPv6 hosts in brackets
("[::1]:8080:80"), and a host range with a single container port meaning "any free
port of this range".  Only tcp and udp are supported.
"""

from __future__ import annotations

from dataclasses import dataclass

from sbx.errors import InvalidArgument

__all__ = ["PortBinding", "parse_publish", "parse_expose", "split_proto_port", "parse_port_range"]

PROTOCOLS = ("tcp", "udp")
_HINT_P = "use -p [ip:][hostPort:]containerPort[/tcp|udp], e.g. -p 127.0.0.1:8080:80"


@dataclass(frozen=True)
class PortBinding:
    """One container port published on the host (host_port 0: pick a free port).

    When ``host_port_end`` is set, any free port from host_port to host_port_end will do.
    """

    host_ip: str
    host_port: int
    container_port: int
    proto: str = "tcp"
    host_port_end: int | None = None

    @property
    def port_key(self) -> str:
        """The container side as Docker keys it: "80/tcp"."""
        return f"{self.container_port}/{self.proto}"

    @classmethod
    def parse(cls, text: str, default_host_ip: str = "0.0.0.0") -> list[PortBinding]:
        return parse_publish(text, default_host_ip)


def split_proto_port(raw: str) -> tuple[str, str]:
    """Split "80/udp" into ("udp", "80"); the protocol defaults to tcp (nat.SplitProtoPort)."""
    parts = raw.split("/")
    if not raw or not parts[0]:
        return "", ""
    if len(parts) == 1:
        return "tcp", raw
    if not parts[1]:
        return "tcp", parts[0]
    return parts[1], parts[0]


def _port(text: str) -> int:
    if not text.isdigit() or not text.isascii():
        raise ValueError(text)
    value = int(text)
    if value > 65535:
        raise ValueError(text)
    return value


def parse_port_range(text: str) -> tuple[int, int]:
    """Parse "80" or "8000-8010" into (start, end); raises ValueError."""
    if not text:
        raise ValueError("empty string specified for ports.")
    if "-" not in text:
        p = _port(text)
        return p, p
    lo, _, hi = text.partition("-")
    start, end = _port(lo), _port(hi)
    if end < start:
        raise ValueError(f"invalid range specified for port: {text}")
    return start, end


def _split_parts(raw: str) -> tuple[str, str, str]:
    parts = raw.split(":")
    n = len(parts)
    if n == 1:
        return "", "", parts[0]
    if n == 2:
        return "", parts[0], parts[1]
    if n == 3:
        return parts[0], parts[1], parts[2]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def _check_ip(ip: str) -> str:
    if ip.startswith("["):
        if not ip.endswith("]"):
            raise InvalidArgument(f"invalid IP address {ip}: missing ']' in address", hint=_HINT_P)
        ip = ip[1:-1]
    import ipaddress

    try:
        ipaddress.ip_address(ip)
    except ValueError:
        raise InvalidArgument(f"invalid IP address: {ip}", hint=_HINT_P) from None
    return ip


def parse_publish(text: str, default_host_ip: str = "0.0.0.0") -> list[PortBinding]:
    """Parse one ``-p`` value into bindings (one per port of a range).

    ``default_host_ip`` applies when the spec names no address (Docker: 0.0.0.0).
    """
    ip, host_part, container_part = _split_parts(text)
    proto, container_part = split_proto_port(container_part)
    if ip:
        ip = _check_ip(ip)
    if not container_part:
        raise InvalidArgument(f"no port specified: {text}<empty>", hint=_HINT_P)
    try:
        start, end = parse_port_range(container_part)
        if start == 0:
            raise ValueError(container_part)
    except ValueError:
        raise InvalidArgument(f"invalid containerPort: {container_part}", hint=_HINT_P) from None
    host_start = host_end = 0
    if host_part:
        try:
            host_start, host_end = parse_port_range(host_part)
        except ValueError:
            raise InvalidArgument(f"Invalid hostPort: {host_part}", hint=_HINT_P) from None
        if (end - start) != (host_end - host_start) and end != start:
            raise InvalidArgument(
                f"invalid ranges specified for container and host Ports: {container_part} and {host_part}",
                hint="give ranges of the same length, or a single container port")
    proto = proto.lower()
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}", hint="use /tcp or /udp")
    host_ip = ip or default_host_ip
    if start == end and host_start != host_end:
        return [PortBinding(host_ip, host_start, start, proto, host_end)]
    return [PortBinding(host_ip, host_start + i if host_part else 0, start + i, proto)
            for i in range(end - start + 1)]


def parse_expose(text: str) -> list[tuple[int, str]]:
    """Parse one ``--expose`` value ("6379", "80/udp", "8000-8002/tcp") into (port, proto)."""
    if ":" in text:
        raise InvalidArgument(f"invalid port format for --expose: {text}",
                              hint="--expose takes a container port or range, without a host part")
    proto, port = split_proto_port(text)
    try:
        start, end = parse_port_range(port)
    except ValueError as exc:
        raise InvalidArgument(f"invalid range format for --expose: {text}, error: {exc or port}",
                              hint="use --expose PORT[-PORT][/tcp|udp]") from None
    proto = proto.lower()
    if proto not in PROTOCOLS:
        raise InvalidArgument(f"invalid proto: {proto}", hint="use /tcp or /udp")
    return [(p, proto) for p in range(start, end + 1)]
