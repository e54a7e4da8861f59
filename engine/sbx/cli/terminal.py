"""The user's terminal during ``run -it`` and ``exec -it``: raw mode, window size kept in
step with the container's pty (SIGWINCH), and the byte relay for exec."""

from __future__ import annotations

import fcntl
import os
import select
import signal
import sys
import termios
import tty
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sbx.linux.consts import TIOCGWINSZ, TIOCSWINSZ


def _send_size(apply: Callable[[bytes], object]) -> None:
    try:
        apply(fcntl.ioctl(sys.stdin.fileno(), TIOCGWINSZ, b"\0" * 8))
    except OSError:
        pass


def size_to_pty(master: int) -> Callable[[bytes], object]:
    """Apply window sizes to a pty master we hold (exec)."""
    return lambda ws: fcntl.ioctl(master, TIOCSWINSZ, ws)


def size_to_pipe(fd: int) -> Callable[[bytes], object]:
    """Send window sizes to the monitor, which holds the container's pty (run -t)."""
    return lambda ws: os.write(fd, ws)


@contextmanager
def raw_terminal(apply: Callable[[bytes], object]) -> Iterator[None]:
    """Raw mode on this terminal; its size now and on every SIGWINCH goes to ``apply``."""
    fd = sys.stdin.fileno()
    saved = None
    if os.isatty(fd):
        saved = termios.tcgetattr(fd)
        tty.setraw(fd)
        _send_size(apply)
        signal.signal(signal.SIGWINCH, lambda *_: _send_size(apply))
    try:
        yield
    finally:
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
            signal.signal(signal.SIGWINCH, signal.SIG_DFL)


def relay_pty(master: int, *, stdin: bool) -> None:
    """Copy the terminal to the pty and back until the pty closes (exec -t)."""
    with raw_terminal(size_to_pty(master)):
        fds = [master] + ([0] if stdin else [])
        while True:
            try:
                ready, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if not data:
                    break
                os.write(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if not data:
                    fds.remove(0)
                    continue
                os.write(master, data)
    os.close(master)
