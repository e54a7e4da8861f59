"""Build ``RUN`` steps and the host's network: a step runs in a network namespace of its
own, with outbound access through the user-space NAT (slirp4netns), and cannot reach what
listens on the host's loopback or on its abstract unix sockets; ``--network none`` has
loopback only; the host's network is there only when asked (``--network host``, or
``RUN --network=host`` with ``--allow network.host``).  The NAT lives exactly as long as
the step's container, however its owners die.

The outbound path is tested without any traffic leaving the machine: a server on an
address of this machine that is not loopback (a dummy link made for the test as root, the
machine's own address rootless), reached from the step through the NAT.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.security import cprobes
from tests.needs import need, unavailable

pytestmark = pytest.mark.integration

ROOT = os.geteuid() == 0
class TokenServer:
    """A TCP (or abstract unix) listener that sends ``token`` to whoever connects."""

    def __init__(self, family: int, address: object) -> None:
        self.token = "HOST-ONLY-" + secrets.token_hex(12)
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.bind(address)
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()
        self._stop = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return self.address[1]  # type: ignore[index]

    def _serve(self) -> None:
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                with contextlib.suppress(OSError):
                    conn.sendall(self.token.encode() + b"\n")

    def close(self) -> None:
        self._stop = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def loopback_server() -> Iterator[TokenServer]:
    srv = TokenServer(socket.AF_INET, ("127.0.0.1", 0))
    yield srv
    srv.close()


@pytest.fixture
def abstract_server() -> Iterator[TokenServer]:
    name = "sbx-test-" + secrets.token_hex(6)
    srv = TokenServer(socket.AF_UNIX, "\0" + name)
    srv.name = name  # type: ignore[attr-defined]
    yield srv
    srv.close()


def _own_global_address() -> str | None:
    """This machine's own (non-loopback) IPv4 address, if it has one."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        words = line.split()
        if "inet" in words:
            return words[words.index("inet") + 1].split("/")[0]
    return None


@pytest.fixture
def host_address() -> Iterator[str]:
    """An address of this machine that is not loopback: as root one on a dummy (or veth)
    link made for the test (removed after), rootless the machine's own address."""
    if not ROOT:
        addr = _own_global_address()
        if addr is None:
            unavailable("this machine has no global IPv4 address to serve on")
        yield addr  # type: ignore[misc]
        return
    need("ip")
    link = "sbxt" + secrets.token_hex(4)
    addr = f"198.18.{secrets.randbelow(250) + 1}.1"
    made = subprocess.run(["ip", "link", "add", link, "type", "dummy"], capture_output=True)
    if made.returncode != 0:  # no dummy driver in this kernel: a veth pair, both ends here
        subprocess.run(["ip", "link", "add", link, "type", "veth", "peer", "name", link + "p"],
                       check=True)
        subprocess.run(["ip", "link", "set", link + "p", "up"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", f"{addr}/32", "dev", link], check=True)
        subprocess.run(["ip", "link", "set", link, "up"], check=True)
        yield addr
    finally:
        subprocess.run(["ip", "link", "del", link], check=False)


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cprobes.build("abstract", tmp_path_factory.mktemp("probe"))


@pytest.fixture
def nat() -> None:
    """The NAT can run for this user (rootless: /dev/net/tun must be openable)."""
    from sbx.runtime.outbound import unavailable as why

    reason = why()
    if reason is not None:
        unavailable(f"no outbound NAT for RUN steps here: {reason}")


def context(tmp_path: Path, dockerfile: str, probe: Path | None = None) -> Path:
    ctx = tmp_path / ("ctx-" + secrets.token_hex(3))
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(dockerfile)
    if probe is not None:
        shutil.copy2(probe, ctx / "probe")
    return ctx


def build(sbx, ctx: Path, *flags: str, ok: bool = True) -> str:  # type: ignore[no-untyped-def]
    r = sbx.run("build", "--no-cache", *flags, str(ctx), timeout=120)
    out = r.stdout + r.stderr
    if ok:
        assert r.returncode == 0, out
    return out


def nat_processes(root: Path) -> list[int]:
    """slirp4netns processes that belong to containers of this store (their log is in it)."""
    found = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            if (p / "comm").read_text().strip() != "slirp4netns":
                continue
            links = [os.readlink(fd) for fd in (p / "fd").iterdir()]
        except OSError:
            continue
        if any(str(root) in link for link in links):
            found.append(int(p.name))
    return found


def nat_mains(root: Path) -> list[int]:
    """``nat_processes`` without slirp4netns' own short-lived child (it makes the tap
    device in the namespace and exits)."""
    out = []
    for pid in nat_processes(root):
        try:
            parent = Path(f"/proc/{_ppid(pid)}/comm").read_text().strip()
        except (OSError, AssertionError):
            continue
        if parent != "slirp4netns":
            out.append(pid)
    return out


def nc(host: str, port: int) -> str:
    return f"nc -w 3 {host} {port} </dev/null || echo nc-exit-$?"


# -- the escape, tried ------------------------------------------------------------------
def test_a_run_step_cannot_reach_the_hosts_loopback(sbx, loopback_server, tmp_path):
    port = loopback_server.port
    ctx = context(tmp_path, f"FROM bb\nRUN {nc('127.0.0.1', port)}; {nc('10.0.2.2', port)}; "
                            f"{nc('localhost', port)}\n")
    out = build(sbx, ctx)
    assert loopback_server.token not in out
    assert out.count("Connection refused") == 2, out     # 127.0.0.1 and localhost: its own lo
    assert "10.0.2.2" in out and "unreachable" in out, out  # the NAT's host alias is closed
    assert not nat_processes(sbx.root)


def test_a_run_step_cannot_reach_the_hosts_abstract_unix_sockets(sbx, abstract_server, probe,
                                                                  tmp_path):
    name = abstract_server.name
    ctx = context(tmp_path, f"FROM bb\nCOPY probe /probe\nRUN /probe {name}; "
                            f"grep -c @{name} /proc/net/unix || true\n", probe)
    out = build(sbx, ctx)
    assert abstract_server.token not in out
    assert "abstract connect: Connection refused" in out, out
    # the host's listener is not even listed in the step's namespace
    assert "\n0\n" in out, out


def test_network_host_is_the_hosts_only_when_asked(sbx, loopback_server, abstract_server,
                                                   probe, tmp_path):
    port, name = loopback_server.port, abstract_server.name
    ctx = context(tmp_path, f"FROM bb\nCOPY probe /probe\nRUN {nc('127.0.0.1', port)}; "
                            f"/probe {name}\n", probe)
    out = build(sbx, ctx, "--network", "host")
    assert loopback_server.token in out
    assert f"abstract connected: {abstract_server.token}" in out


def test_run_network_host_in_a_dockerfile_needs_the_entitlement(sbx, loopback_server, tmp_path):
    port = loopback_server.port
    ctx = context(tmp_path, f"FROM bb\nRUN --network=host {nc('127.0.0.1', port)}\n")
    r = sbx.run("build", "--no-cache", str(ctx), timeout=120)
    assert r.returncode != 0
    assert "RUN --network=host needs the network.host entitlement" in r.stderr
    assert "--allow network.host" in r.stderr
    assert loopback_server.token not in r.stdout + r.stderr
    out = build(sbx, ctx, "--allow", "network.host")
    assert loopback_server.token in out
    # RUN --network=none inside a default build: loopback only
    ctx2 = context(tmp_path, "FROM bb\nRUN --network=none ip -o link\n")
    out = build(sbx, ctx2)
    assert " lo:" in out and "tap0" not in out


def test_network_none_has_loopback_only(sbx, tmp_path):
    ctx = context(tmp_path, "FROM bb\nRUN ip -o link; ip -o -4 addr; echo routes; "
                            "tail -n +2 /proc/net/route; echo end\n")
    out = build(sbx, ctx, "--network", "none")
    links = [ln.split(":")[1].strip() for ln in out.splitlines() if ln[:1].isdigit() and ": " in ln
             and "link/" in ln]
    assert links == ["lo"], out
    assert "routes\nend" in out, out


def test_default_network_has_the_nat_interface_route_and_dns(sbx, nat, tmp_path):
    ctx = context(tmp_path, "FROM bb\nRUN ip -o -4 addr; cat /proc/net/route; "
                            "cat /etc/resolv.conf\n")
    out = build(sbx, ctx)
    assert "tap0" in out and "inet 10.0.2.100/24" in out, out
    # the default route, through the NAT's gateway 10.0.2.2 (little-endian hex)
    assert any(ln.split()[:3] == ["tap0", "00000000", "0202000A"] for ln in out.splitlines()), out
    assert "nameserver 10.0.2.3" in out, out
    assert not nat_processes(sbx.root)


def test_outbound_reaches_the_hosts_other_addresses_through_the_nat(sbx, nat, host_address, tmp_path):
    srv = TokenServer(socket.AF_INET, (host_address, 0))
    try:
        ctx = context(tmp_path, f"FROM bb\nRUN {nc(host_address, srv.port)}\n")
        out = build(sbx, ctx)
        assert srv.token in out, out
    finally:
        srv.close()


# -- the NAT's life ---------------------------------------------------------------------
def test_the_nat_ends_when_its_monitor_is_killed(sbx, nat, tmp_path):
    ctx = context(tmp_path, "FROM bb\nRUN sleep 60\n")
    proc = subprocess.Popen([*_sbx_argv(), "build", "--no-cache", str(ctx)], env=sbx.env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        nats: list[int] = []
        while not nats and time.monotonic() < deadline:
            time.sleep(0.05)
            nats = nat_mains(sbx.root)
        assert len(nats) == 1, "no NAT appeared for the RUN step"
        monitor = _ppid(nats[0])
        os.killpg(proc.pid, signal.SIGKILL)   # the build command
        proc.wait(10)
        os.kill(monitor, signal.SIGKILL)      # and the step's monitor (its own session)
        deadline = time.monotonic() + 5
        while nat_processes(sbx.root) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not nat_processes(sbx.root), "slirp4netns outlived its monitor"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
        sbx.remove_all()


DETACHED = """
import sys
from sbx.engine import Engine
from sbx.runtime.spec import RunOptions
e = Engine.from_env()
rec = e.create("bb", RunOptions(command=("sleep", "60"), outbound=True))
e.start(rec.id)
print(rec.id)
"""


def test_a_detached_container_keeps_its_nat_until_it_exits(sbx, nat):
    """The runtime mode the networks work reuses: a detached container (whose monitor
    execs into the lean loop) keeps its NAT, and the NAT is killed and reaped with it."""
    import sys

    r = subprocess.run([sys.executable, "-c", DETACHED], env=sbx.env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    cid = r.stdout.strip()
    try:
        nats = nat_mains(sbx.root)
        assert len(nats) == 1, nats
        out = sbx.ok("exec", cid, "sh", "-c", "ip -o -4 addr; cat /etc/resolv.conf")
        assert "tap0" in out and "10.0.2.100/24" in out and "nameserver 10.0.2.3" in out, out
        sbx.ok("stop", "-t", "1", cid)
        deadline = time.monotonic() + 5
        while Path(f"/proc/{nats[0]}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        # gone from /proc: killed and reaped (a zombie would still be listed)
        assert not Path(f"/proc/{nats[0]}").exists(), "the NAT outlived its container (or was not reaped)"
    finally:
        sbx.run("rm", "-f", cid)


def test_a_failed_step_leaves_no_nat(sbx, tmp_path):
    ctx = context(tmp_path, "FROM bb\nRUN exit 3\n")
    out = build(sbx, ctx, ok=False)
    assert "returned a non-zero code: 3" in out
    assert not nat_processes(sbx.root)


def _sbx_argv() -> list[str]:
    import sys

    return [sys.executable, "-m", "sbx"]


def _ppid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("PPid:"):
            return int(line.split()[1])
    raise AssertionError(f"no PPid for {pid}")
