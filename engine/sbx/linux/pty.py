"""Pseudo-terminals from the devpts instance of the current mount namespace, and passing
their master side to another process (SCM_RIGHTS)."""

from __future__ import annotations

import array
import fcntl
import os
import socket
import struct

TIOCGPTN = 0x80045430
TIOCSPTLCK = 0x40045431


def open_pty() -> tuple[int, int]:
    """(master, slave) from ``/dev/ptmx`` as seen from here: inside a container that is the
    container's own devpts, so the slave shows up as ``/dev/pts/N`` there (``tty`` works)."""
    master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    n = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0" * 4))[0]
    slave = os.open(f"/dev/pts/{n}", os.O_RDWR | os.O_NOCTTY)
    return master, slave


def send_fd(sock: socket.socket, fd: int) -> None:
    sock.sendmsg([b"f"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])


def recv_fd(sock: socket.socket) -> int:
    """The fd sent by ``send_fd``, or -1 when the peer closed without sending one."""
    msg, anc, _flags, _addr = sock.recvmsg(1, socket.CMSG_SPACE(4))
    for level, kind, data in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            arr = array.array("i")
            arr.frombytes(data[:4])
            return arr[0]
    return -1


def copy_size(src: int, master: int) -> None:
    """Give the pty ``master`` the window size of terminal ``src`` (if it is one)."""
    from sbx.linux.consts import TIOCGWINSZ, TIOCSWINSZ

    try:
        fcntl.ioctl(master, TIOCSWINSZ, fcntl.ioctl(src, TIOCGWINSZ, b"\0" * 8))
    except OSError:
        pass
