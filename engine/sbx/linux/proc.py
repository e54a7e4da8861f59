"""Process facts from /proc: start times, so that a recycled pid is never signalled."""

from __future__ import annotations

import gc
import os
import signal


def forked_child() -> None:
    """First step of a child forked from a process that may hold many Python objects (the
    pytest process): what it inherited is never collected here, so no finalizer of the
    parent's (closing a descriptor, removing a temporary directory) runs in the child."""
    gc.freeze()


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (clock ticks since boot), or None if the pid is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    # comm may contain spaces and parentheses: split after the last ')'.
    rest = data[data.rfind(b")") + 2:].split()
    if rest and rest[0] == b"Z":
        return None  # a zombie has finished running
    try:
        return int(rest[19])
    except (IndexError, ValueError):
        return None


def is_alive(pid: int, started: int | None) -> bool:
    """True when ``pid`` runs and is the same process (same start time) we recorded."""
    if pid <= 0:
        return False
    now = start_time(pid)
    return now is not None and (started is None or now == started)


def signal_checked(pid: int, started: int | None, sig: int) -> bool:
    """Send ``sig`` only if ``pid`` is still the process recorded; False when gone."""
    if not is_alive(pid, started):
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def boot_time() -> float:
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("btime "):
                return float(line.split()[1])
    return 0.0


SIGNALS_BY_NAME = {s.name: int(s) for s in signal.Signals}


def release_fds(keep: set[int]) -> None:
    """Point every descriptor but ``keep`` at /dev/null (close-on-exec): what a helper
    inherited from its caller never reaches a container.  Not closed: a Python object
    inherited with the fork (a test's unclosed socket) may still own the number and
    close it when collected, under whatever reused it (the monitor's pipes, once).
    Reads /proc/self/fd: call it before entering a mount namespace whose /proc is not
    this process's."""
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd in keep or fd == null:
                continue
            try:
                os.get_inheritable(fd)  # still open? (the listing's own descriptor is not)
            except OSError:
                continue
            os.dup2(null, fd, inheritable=False)
    finally:
        os.close(null)


def scrub_environ() -> None:
    """Zero this process's original environment block (what /proc/<pid>/environ shows):
    a helper forked from the caller must not show the caller's environment to the
    container it enters.  Python keeps its own copy (os.environ); getenv then finds
    nothing.  A no-op where /proc/self/stat does not give the block."""
    import ctypes

    try:
        with open("/proc/self/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[47]), int(fields[48])  # env_start, env_end (fields 50, 51)
    except (OSError, IndexError, ValueError):
        return
    if 0 < start < end:
        ctypes.memset(start, 0, end - start)
