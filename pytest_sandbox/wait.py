"""Readiness: wait strategies and the loop that polls them.

A strategy answers one question, "is it ready now?", against a ``Target`` (the started
container).  ``wait_until_ready`` polls it every half millisecond at first, backing off to 10 ms,
stops at once when the container exits, and raises ``NotReady`` with the container's logs
on exit or timeout.  Port checks read the container's own socket table
(``/proc/<init>/net/tcp``, which shows the container's network namespace), so they need
nothing inside the image; protocol probes (redis PING, postgres startup, mysql greeting,
mongo hello, memcached version, HTTP) go through the published port, as a client would."""

from __future__ import annotations

import re
import socket
import struct
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sbx.errors import SbxError

LOG_TAIL = 40


class NotReady(SbxError):
    """A container exited before it was ready, or was not ready in time."""


class Target(Protocol):
    name: str

    @property
    def pid(self) -> int: ...
    def running(self) -> bool: ...
    def host_port(self, container_port: int) -> int | None: ...
    def published(self) -> list[int]: ...
    def exec(self, cmd: str | list[str] | tuple[str, ...]) -> tuple[int, str]: ...
    def logs(self) -> str: ...
    def healthcheck(self) -> dict[str, Any] | None: ...


class Strategy(ABC):
    """Base of the strategies: ``check`` returns True when ready (False: poll again)."""

    @abstractmethod
    def check(self, target: Target) -> bool:
        """True when ``target`` is ready; False (or NotReady) to poll again."""

    def describe(self) -> str:
        return type(self).__name__


# -- inside the container's network namespace ------------------------------------------
def listening_ports(pid: int) -> set[int]:
    """TCP ports in LISTEN state in the network namespace of ``pid``."""
    ports: set[int] = set()
    for name in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{name}") as f:
                next(f, None)
                for line in f:
                    parts = line.split()
                    if len(parts) > 3 and parts[3] == "0A":
                        ports.add(int(parts[1].rsplit(":", 1)[1], 16))
        except OSError:
            pass
    return ports


@dataclass(frozen=True)
class Port(Strategy):
    """These container ports accept connections (all published ports when empty)."""

    ports: tuple[int, ...] = ()

    def check(self, target: Target) -> bool:
        want = set(self.ports or target.published())
        return want <= listening_ports(target.pid)

    def describe(self) -> str:
        return f"port {','.join(map(str, self.ports)) or 'published ports'} listening"


@dataclass(frozen=True)
class Log(Strategy):
    """The container's output matches ``pattern`` (at least ``times`` times)."""

    pattern: str
    times: int = 1

    def check(self, target: Target) -> bool:
        return len(re.findall(self.pattern, target.logs(), re.MULTILINE)) >= self.times

    def describe(self) -> str:
        return f"log matching {self.pattern!r}"


@dataclass(frozen=True)
class Command(Strategy):
    """A command run inside the container (``exec``) exits 0."""

    argv: tuple[str, ...]

    @classmethod
    def shell(cls, script: str) -> Command:
        return cls(("sh", "-c", script))

    def check(self, target: Target) -> bool:
        return target.exec(list(self.argv))[0] == 0

    def describe(self) -> str:
        return f"command {' '.join(self.argv)!r} exiting 0"


@dataclass(frozen=True)
class Healthcheck(Strategy):
    """The image's HEALTHCHECK test passes (run with ``exec``; no image check: ready)."""

    def check(self, target: Target) -> bool:
        test = list((target.healthcheck() or {}).get("Test") or [])
        if not test or test[0] == "NONE":
            return True
        argv = ["sh", "-c", test[1]] if test[0] == "CMD-SHELL" else test[1:] if test[0] == "CMD" else test
        return target.exec(argv)[0] == 0

    def describe(self) -> str:
        return "the image's HEALTHCHECK"


@dataclass(frozen=True)
class Custom(Strategy):
    """A callable that gets the container handle and returns True when ready."""

    fn: Callable[[Any], bool]

    def check(self, target: Target) -> bool:
        return bool(self.fn(target))

    def describe(self) -> str:
        return getattr(self.fn, "__name__", "a custom check")


@dataclass(frozen=True)
class All(Strategy):
    strategies: tuple[Strategy, ...]

    def check(self, target: Target) -> bool:
        return all(s.check(target) for s in self.strategies)

    def describe(self) -> str:
        return " and ".join(s.describe() for s in self.strategies)


# -- protocol probes through the published port -----------------------------------------
def _exchange(target: Target, port: int, send: bytes, want: int = 1) -> bytes:
    """Connect to the published ``port``, send ``send``, return what comes back ('' on EOF)."""
    hp = target.host_port(port)
    if hp is None:
        raise NotReady(f"container {target.name}: port {port} is not published",
                       hint="publish it (ports=[...]) or wait with wait='port'")
    try:
        with socket.create_connection(("127.0.0.1", hp), timeout=1.0) as s:
            if send:
                s.sendall(send)
            data = b""
            while len(data) < want:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            return data
    except OSError:
        return b""


@dataclass(frozen=True)
class Probe(Strategy):
    """Send bytes to a published port and expect a reply starting with one of ``expect``."""

    port: int
    send: bytes
    expect: tuple[bytes, ...]

    def check(self, target: Target) -> bool:
        reply = _exchange(target, self.port, self.send, max(map(len, self.expect)))
        return reply.startswith(self.expect)

    def describe(self) -> str:
        return f"reply {self.expect[0]!r} on port {self.port}"


def RedisPing(port: int = 6379) -> Probe:  # noqa: N802 - reads like a class
    """redis answers PING (NOAUTH also means it is up)."""
    return Probe(port, b"PING\r\n", (b"+PONG", b"-NOAUTH"))


def MemcachedVersion(port: int = 11211) -> Probe:  # noqa: N802
    return Probe(port, b"version\r\n", (b"VERSION",))


@dataclass(frozen=True)
class PostgresReady(Strategy):
    """postgres accepts connections: a startup packet is answered with anything but
    57P03 ("the database system is starting up"), as ``pg_isready`` decides."""

    port: int = 5432

    def check(self, target: Target) -> bool:
        params = b"user\0postgres\0database\0postgres\0\0"
        packet = struct.pack("!ii", 8 + len(params), 196608) + params
        reply = _exchange(target, self.port, packet, 5)
        if len(reply) < 5:
            return False
        if reply[:1] == b"E":
            length = struct.unpack("!i", reply[1:5])[0]
            full = _exchange(target, self.port, packet, 1 + length)
            return len(full) > 5 and b"57P03" not in full
        return reply[:1] == b"R"

    def describe(self) -> str:
        return f"postgres accepting connections on port {self.port}"


@dataclass(frozen=True)
class MySQLGreeting(Strategy):
    """mysqld/mariadbd sends its protocol-10 greeting."""

    port: int = 3306

    def check(self, target: Target) -> bool:
        reply = _exchange(target, self.port, b"", 5)
        return len(reply) >= 5 and reply[4] == 10

    def describe(self) -> str:
        return f"mysql greeting on port {self.port}"


def _bson_hello() -> bytes:
    body = b"\x10hello\x00" + struct.pack("<i", 1) + b"\x02$db\x00" + struct.pack("<i", 6) + b"admin\x00"
    return struct.pack("<i", len(body) + 5) + body + b"\x00"


@dataclass(frozen=True)
class MongoHello(Strategy):
    """mongod answers the ``hello`` command (OP_MSG)."""

    port: int = 27017

    def check(self, target: Target) -> bool:
        payload = struct.pack("<I", 0) + b"\x00" + _bson_hello()
        msg = struct.pack("<iiii", 16 + len(payload), 1, 0, 2013) + payload
        reply = _exchange(target, self.port, msg, 16)
        return len(reply) >= 16 and struct.unpack("<i", reply[12:16])[0] == 2013

    def describe(self) -> str:
        return f"mongo hello on port {self.port}"


@dataclass(frozen=True)
class Http(Strategy):
    """An HTTP GET of ``path`` on the published ``port`` returns ``status``."""

    port: int
    path: str = "/"
    status: int = 200

    def check(self, target: Target) -> bool:
        hp = target.host_port(self.port)
        if hp is None:
            raise NotReady(f"container {target.name}: port {self.port} is not published",
                           hint="publish it with ports=[...]")
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", hp, timeout=2.0)
        try:
            conn.request("GET", self.path)
            return conn.getresponse().status == self.status
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def describe(self) -> str:
        return f"HTTP {self.status} from port {self.port}{self.path}"


# -- the marker's ``wait=`` ------------------------------------------------------------
def parse(value: object, ports: tuple[int, ...] = ()) -> Strategy | None:
    """``wait=`` of the marker: a Strategy, a callable, a port number, or text: ``port``,
    ``port:N``, ``log:REGEX``, ``http:PORT/PATH``, ``cmd:SHELL``, ``healthcheck``, ``none``."""
    if value is None or isinstance(value, Strategy):
        return value
    if isinstance(value, bool):
        return Port(ports) if value else None
    if isinstance(value, int):
        return Port((value,))
    if callable(value):
        return Custom(value)
    if not isinstance(value, str):
        raise NotReady(f"wait={value!r} is not a wait strategy",
                       hint="use port, port:N, log:REGEX, http:PORT/PATH, cmd:SHELL, healthcheck or none")
    kind, _, arg = value.partition(":")
    if kind == "none":
        return None
    if kind == "port":
        return Port((int(arg),) if arg else ports)
    if kind == "log":
        return Log(arg)
    if kind == "cmd":
        return Command.shell(arg)
    if kind == "healthcheck":
        return Healthcheck()
    if kind == "http":
        num, slash, path = arg.partition("/")
        port = int(num) if num else (ports[0] if ports else 80)
        return Http(port, slash + path or "/")
    raise NotReady(f"unknown wait strategy {value!r}",
                   hint="use port, port:N, log:REGEX, http:PORT/PATH, cmd:SHELL, healthcheck or none")


# -- the loop -------------------------------------------------------------------------
def _tail(text: str, lines: int = LOG_TAIL) -> str:
    return "\n".join(text.rstrip("\n").splitlines()[-lines:])


def _who(target: Target) -> str:
    alias = getattr(target, "alias", None)
    return f"{alias} ({target.name})" if alias and alias != target.name else target.name


def wait_until_ready(strategy: Strategy | None, target: Target, timeout: float,
                     progress: Callable[[str], None] | None = None) -> float:
    """Poll ``strategy`` until it passes; returns the seconds waited."""
    start = time.monotonic()
    if strategy is None:
        return 0.0
    delay, report_at = 0.0005, 2.0
    while True:
        if not target.running():
            settle = getattr(target, "settle", None)
            if settle is not None:
                settle()  # let the monitor write the last output to the log
            raise NotReady(f"container {_who(target)} exited before it was ready "
                           f"(waiting for {strategy.describe()}); its last output:\n"
                           f"{_tail(target.logs())}",
                           hint="check the image's command and env; the output above is its log")
        if strategy.check(target):
            return time.monotonic() - start
        waited = time.monotonic() - start
        if waited > timeout:
            raise NotReady(f"container {_who(target)} not ready after {timeout:g}s "
                           f"(waiting for {strategy.describe()}); its last output:\n"
                           f"{_tail(target.logs())}",
                           hint="raise the timeout (--sandbox-timeout or timeout=) or fix the wait strategy")
        if progress is not None and waited >= report_at:
            progress(f"sandbox: waiting for {_who(target)}: {strategy.describe()} ({waited:.0f}s)")
            report_at += 5.0
        time.sleep(delay)
        delay = min(delay * 1.3, 0.01)
