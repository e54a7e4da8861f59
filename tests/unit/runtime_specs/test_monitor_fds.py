"""The monitor is forked from the launcher, which may be a pytest process full of Python
objects that own descriptors (a test's unclosed HTTP connection, say).  When the monitor
lets go of them, their numbers must not be freed: the garbage collector would close them
again later, under the monitor's own pipes (the monitor then died with EBADF)."""

from __future__ import annotations

import fcntl
import os
import socket

from sbx.linux.proc import release_fds as _close_other_fds


def _in_child(fn) -> int:  # type: ignore[no-untyped-def]
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            code = fn()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_an_inherited_object_closing_its_descriptor_spares_the_monitors_pipes() -> None:
    leftover = socket.socket()  # owned by an object, as a test's unclosed connection

    def child() -> int:
        _close_other_fds({0, 1, 2})
        pipes = [os.pipe() for _ in range(32)]  # one would take the freed number
        leftover.close()  # what collecting the object does, later
        for r, w in pipes:
            os.write(w, b"x")
            if os.read(r, 1) != b"x":
                return 1
        return 0

    try:
        assert _in_child(child) == 0
    finally:
        leftover.close()


def test_what_is_let_go_is_dev_null_and_closed_on_exec() -> None:
    leftover = socket.socket()
    fd = leftover.fileno()
    os.set_inheritable(fd, True)

    def child() -> int:
        _close_other_fds({0, 1, 2})
        null = os.stat(os.devnull)
        st = os.fstat(fd)
        ok = (st.st_rdev == null.st_rdev and fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
        return 0 if ok else 1

    try:
        assert _in_child(child) == 0
    finally:
        leftover.close()
