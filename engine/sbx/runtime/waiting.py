"""Waiting for a process we did not start (the monitor) without polling: pidfd + poll."""

from __future__ import annotations

import select
import time

from sbx.errors import KernelError
from sbx.linux import proc, syscalls


def wait_pid_gone(pid: int, start: int | None, timeout: float | None) -> bool:
    """True once ``pid`` (with that start time) has exited; False on timeout."""
    if not proc.is_alive(pid, start):
        return True
    try:
        fd = syscalls.pidfd_open(pid)
    except KernelError:
        return not proc.is_alive(pid, start)
    try:
        if not proc.is_alive(pid, start):  # the pid may have been reused before pidfd_open
            return True
        p = select.poll()
        p.register(fd, select.POLLIN)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if p.poll(None if left is None else left * 1000):
                return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
    finally:
        import os

        os.close(fd)
