"""File locks for the hot paths (container state, names): ``fcntl.flock`` on a lock file.

The ``filelock`` package serves the image store; here the CLI's start-up time matters and
``import filelock`` alone costs tens of milliseconds, while ``flock(2)`` is what it wraps.
Locks are released by the kernel when the holder dies, so a crash never leaves one held.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def flocked(path: Path, *, shared: bool = False) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
