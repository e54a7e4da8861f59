"""Published ports without bridges or iptables: the monitor listens on the host side (it
binds before entering the container's network namespace) and opens each upstream socket
from inside that namespace, then relays bytes both ways on one selector loop."""

from __future__ import annotations

import errno
import selectors
import socket

TYPE_CHECKING = False  # (no `typing` import: this module runs in the lean monitor)

if TYPE_CHECKING:
    from sbx.runtime.spec import Port
    from sbx.runtime.state import HostPort

BUF = 256 * 1024


def listen(ports: tuple[Port, ...]) -> list[tuple[socket.socket, HostPort]]:
    """Bind every published TCP port on the host (port 0: a random free one)."""
    from sbx.errors import Conflict
    from sbx.runtime.state import HostPort

    out: list[tuple[socket.socket, HostPort]] = []
    try:
        for p in ports:
            if p.proto != "tcp":
                raise Conflict(f"publishing {p.proto} ports is not supported yet ({p.container_port}/{p.proto})",
                               hint="publish TCP ports, or use --network host")
            fam = socket.AF_INET6 if ":" in p.host_ip else socket.AF_INET
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((p.host_ip, p.host_port))
            except OSError as e:
                s.close()
                raise Conflict(f"cannot publish {p.host_ip}:{p.host_port}->{p.container_port}/tcp: {e.strerror}",
                               hint="the host port is in use: pick another or leave it out for a random one") from None
            s.listen(128)
            s.setblocking(False)
            out.append((s, HostPort(p.container_port, "tcp", p.host_ip, s.getsockname()[1])))
    except Exception:
        for s, _ in out:
            s.close()
        raise
    return out


class _Pipe:
    """One direction of a relayed connection."""

    __slots__ = ("src", "dst", "buf", "eof", "done")

    def __init__(self, src: socket.socket, dst: socket.socket) -> None:
        self.src = src
        self.dst = dst
        self.buf = bytearray()
        self.eof = False
        self.done = False


class Forwarder:
    """Relays connections; all sockets live on the monitor's selector."""

    def __init__(self, sel: selectors.BaseSelector, listeners: list[tuple[socket.socket, int]]) -> None:
        self.sel = sel
        self.listeners = listeners
        self.conns: dict[socket.socket, list[_Pipe]] = {}
        for s, container_port in listeners:
            sel.register(s, selectors.EVENT_READ, ("accept", container_port))

    def handle(self, sock: socket.socket, data: tuple[object, ...], events: int) -> None:
        kind = data[0]
        if kind == "accept":
            self._accept(sock, data[1])  # type: ignore[arg-type]
        elif kind == "connect":
            self._connected(sock, data[1])  # type: ignore[arg-type]
        else:
            self._io(sock, events)

    def _accept(self, lsock: socket.socket, container_port: int) -> None:
        try:
            client, _ = lsock.accept()
        except OSError:
            return
        client.setblocking(False)
        up = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # in the container's netns
        up.setblocking(False)
        rc = up.connect_ex(("127.0.0.1", container_port))
        if rc not in (0, errno.EINPROGRESS):
            client.close()
            up.close()
            return
        self.sel.register(up, selectors.EVENT_WRITE, ("connect", client))

    def _connected(self, up: socket.socket, client: socket.socket) -> None:
        self.sel.unregister(up)
        if up.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
            up.close()
            client.close()  # nothing listens inside yet: the client sees the connection close
            return
        a, b = _Pipe(client, up), _Pipe(up, client)
        self.conns[client] = [a, b]
        self.conns[up] = [b, a]
        self._update(client)
        self._update(up)

    def _update(self, sock: socket.socket) -> None:
        pipes = self.conns.get(sock)
        if pipes is None:
            return
        out_pipe, in_pipe = pipes  # out_pipe reads from sock; in_pipe writes to sock
        ev = 0
        if not out_pipe.eof and len(out_pipe.buf) < BUF:
            ev |= selectors.EVENT_READ
        if in_pipe.buf:
            ev |= selectors.EVENT_WRITE
        try:
            key = self.sel.get_key(sock)
        except KeyError:
            key = None
        if ev and key is None:
            self.sel.register(sock, ev, ("io",))
        elif ev and key is not None and key.events != ev:
            self.sel.modify(sock, ev, ("io",))
        elif not ev and key is not None:
            self.sel.unregister(sock)

    def _io(self, sock: socket.socket, events: int) -> None:
        pipes = self.conns.get(sock)
        if pipes is None:
            return
        out_pipe, in_pipe = pipes
        try:
            if events & selectors.EVENT_READ:
                data = sock.recv(65536)
                if data:
                    out_pipe.buf += data
                else:
                    out_pipe.eof = True
            if events & selectors.EVENT_WRITE and in_pipe.buf:
                n = sock.send(in_pipe.buf)
                del in_pipe.buf[:n]
            for p in (out_pipe, in_pipe):
                if p.buf:
                    try:
                        n = p.dst.send(p.buf)
                        del p.buf[:n]
                    except BlockingIOError:
                        pass
                if p.eof and not p.buf and not p.done:
                    p.done = True
                    try:
                        p.dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
        except OSError:
            self._close(sock)
            return
        if out_pipe.done and in_pipe.done:
            self._close(sock)
            return
        self._update(out_pipe.src)
        self._update(out_pipe.dst)

    def _close(self, sock: socket.socket) -> None:
        pipes = self.conns.pop(sock, None)
        if not pipes:
            return
        other = pipes[0].dst
        self.conns.pop(other, None)
        for s in (sock, other):
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()

    def close(self) -> None:
        for s in list(self.conns):
            self._close(s)
        for s, _ in self.listeners:
            try:
                self.sel.unregister(s)
            except (KeyError, ValueError):
                pass
            s.close()
