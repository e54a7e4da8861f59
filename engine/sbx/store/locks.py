"""Store locks: one store-wide shared/exclusive ``flock`` and named per-item ``FileLock``s.

Every writer (blob ingest, layer unpack, image commit, tagging) holds the store lock
*shared*; garbage collection (prune, rmi's sweep) holds it *exclusive*, so it never sees
an item between "written" and "referenced".  Callers that span several steps (a pull:
blobs, then layers, then the image) hold ``Store.lease()`` around all of them.

The shared/exclusive lock is counted per process and per lock file, so nesting works;
asking for exclusive while this process holds it shared is a programming error.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sbx.errors import StoreError

if TYPE_CHECKING:
    from filelock import FileLock


@dataclass
class _State:
    pid: int
    fd: int
    shared: int = 0
    exclusive: int = 0


_STATES: dict[str, _State] = {}
_GUARD = threading.RLock()


class StoreLock:
    """The store-wide reader/writer lock on one file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _state(self) -> _State:
        key = str(self.path)
        st = _STATES.get(key)
        if st is None or st.pid != os.getpid():
            # First use, or we are a forked child: the inherited descriptor belongs to the
            # parent's lock; open our own.
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            st = _State(os.getpid(), fd)
            _STATES[key] = st
        return st

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        with _GUARD:
            st = self._state()
            if st.shared == 0 and st.exclusive == 0:
                fcntl.flock(st.fd, fcntl.LOCK_SH)
            st.shared += 1
        try:
            yield
        finally:
            with _GUARD:
                st.shared -= 1
                if st.shared == 0 and st.exclusive == 0:
                    fcntl.flock(st.fd, fcntl.LOCK_UN)

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        with _GUARD:
            st = self._state()
            if st.shared:
                raise StoreError(f"cannot take the store lock {self.path} exclusively while "
                                 "this process holds it shared",
                                 hint="do not prune or remove images inside Store.lease()")
            if st.exclusive == 0:
                fcntl.flock(st.fd, fcntl.LOCK_EX)
            st.exclusive += 1
        try:
            yield
        finally:
            with _GUARD:
                st.exclusive -= 1
                if st.exclusive == 0:
                    fcntl.flock(st.fd, fcntl.LOCK_UN if st.shared == 0 else fcntl.LOCK_SH)


def named_lock(path: Path) -> FileLock:
    """An exclusive lock on one item (a layer being unpacked, the tag index)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock  # imported on first use: it costs ~15 ms at start-up

    return FileLock(str(path), mode=0o600)
