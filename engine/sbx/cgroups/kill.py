"""Signalling every process of a cgroup and waiting for the cgroup to empty.

The pids come from ``cgroup.procs``, so they are members at the moment of reading; a
process that exits in between is skipped (ESRCH).  A process that forks while we walk the
list is caught by signalling again until the list stops changing, unless the caller froze
the cgroup first (v1 ``freezer.state``, v2 ``cgroup.freeze``), which is the reliable way.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

PidLister = Callable[[], list[int]]


def signal_all(list_pids: PidLister, sig: int = signal.SIGKILL, *, rounds: int = 5) -> None:
    """Send ``sig`` to every listed pid, repeating while new pids appear (at most ``rounds``)."""
    sent: set[int] = set()
    for _ in range(rounds):
        pids = [p for p in list_pids() if p not in sent]
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
            sent.add(pid)


def wait_empty(list_pids: PidLister, timeout: float) -> bool:
    """Poll until no pid is listed; True if the cgroup emptied within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while list_pids():
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True


def wait_for(check: Callable[[], bool], timeout: float) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds pass; returns the last result."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not check():
        if time.monotonic() >= deadline:
            return check()
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True
