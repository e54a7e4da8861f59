"""-t gives the container a real terminal from its own devpts: `tty` names /dev/pts/N, the
size follows the user's terminal, Ctrl-C reaches the foreground program."""

from __future__ import annotations

import fcntl
import os
import struct
import subprocess
import sys
import termios
import time

import pytest

pytestmark = pytest.mark.integration


def _under_pty(sbx, args, steps=(), rows=40, cols=100, timeout=20.0):  # type: ignore[no-untyped-def]
    """Run sbx on a new pty; ``steps`` are (text to wait for, keys to type) pairs."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "sbx", *args], stdin=slave, stdout=slave,
                            stderr=slave, env=sbx.env, start_new_session=True,
                            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    todo = list(steps)
    seen = 0  # output before this offset was already matched
    while time.monotonic() < deadline:
        if todo and todo[0][0] in out[seen:]:
            wait_for, keys = todo.pop(0)
            seen = out.index(wait_for, seen) + len(wait_for)
            time.sleep(0.2)
            os.write(master, keys)
        try:
            import select

            r, _, _ = select.select([master], [], [], 0.1)
            if r:
                chunk = os.read(master, 65536)
                if not chunk:
                    break
                out += chunk
        except OSError:
            break
        if proc.poll() is not None and not select.select([master], [], [], 0.05)[0]:
            break
    proc.wait(timeout=10)
    os.close(master)
    return proc.returncode, out.decode(errors="replace").replace("\r\n", "\n")


def test_run_it_gives_a_real_terminal(sbx):
    code, out = _under_pty(sbx, ["run", "-it", "--rm", "bb", "sh", "-c", "tty; stty size; exit 3"])
    assert code == 3, out
    assert "/dev/pts/0" in out and "40 100" in out


def test_run_it_interactive_shell_and_ctrl_c(sbx):
    code, out = _under_pty(sbx, ["run", "-it", "--rm", "bb", "sh"],
                           steps=[(b"# ", b"sleep 30\n"), (b"sleep 30", b"\x03"),
                                  (b"# ", b"echo after-$((1+1))\n"), (b"after-2", b"exit 6\n")])
    assert code == 6, out
    assert "^C" in out and "\nafter-2\n" in out


def test_exec_it(sbx):
    sbx.ok("run", "-d", "--name", "term", "bb", "sleep", "1000")
    code, out = _under_pty(sbx, ["exec", "-it", "term", "sh", "-c", "tty; stty size; exit 2"],
                           rows=33, cols=77)
    assert code == 2, out
    assert "/dev/pts/" in out and "33 77" in out
