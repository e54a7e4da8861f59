"""The files Docker gives every container: /etc/hosts, /etc/hostname, /etc/resolv.conf."""

from __future__ import annotations

from pathlib import Path

HOSTS = """127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
127.0.1.1\t{hostname}
"""


def _new(path: Path, data: bytes) -> None:
    """A file of a container being created: nobody reads it before the container starts,
    so no temp file and rename (``atomic``) is needed."""
    with open(path, "wb") as f:
        f.write(data)


def write(hosts: Path, hostname_file: Path, resolv: Path, *, hostname: str, network: str,
          outbound: bool = False) -> None:
    """``outbound``: the container reaches out through the user-space NAT, whose DNS
    forwarder is its only nameserver (the host's may be a loopback one it cannot see)."""
    if network == "host":
        try:
            host_hosts = Path("/etc/hosts").read_text()
        except OSError:
            host_hosts = HOSTS.format(hostname=hostname)
        _new(hosts, host_hosts.encode())
    else:
        _new(hosts, HOSTS.format(hostname=hostname).encode())
    _new(hostname_file, (hostname + "\n").encode())
    try:
        text = Path("/etc/resolv.conf").read_text()
    except OSError:
        text = ""
    if outbound:
        from sbx.runtime.outbound import resolv_conf

        text = resolv_conf(text)
    elif not text.strip():
        text = "nameserver 127.0.0.53\n"
    _new(resolv, text.encode())
