"""Scratch entries in ``layout.tmp``: named ``<kind>.<key>.<pid>.<random>`` so that a dead
writer's leftovers can be recognised and removed by the next caller."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path


def temp_path(tmp: Path, kind: str, key: str = "-") -> Path:
    tmp.mkdir(parents=True, exist_ok=True)
    return tmp / f"{kind}.{key}.{os.getpid()}.{os.urandom(4).hex()}"  # (not secrets: 3 ms import)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_pid(name: str) -> int | None:
    parts = name.split(".")
    if len(parts) < 4:
        return None
    try:
        return int(parts[-2])
    except ValueError:
        return None


def remove(path: Path) -> None:
    """Remove a file or a whole tree; missing is fine."""
    try:
        if path.is_dir() and not path.is_symlink():
            from sbx.rootless.userns import needed, remove_trees

            if needed():  # files of the container's ids: only inside the user's namespace
                remove_trees([path])
            else:
                shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


def sweep(tmp: Path, kind: str, key: str | None = None, *, only_dead: bool = True) -> int:
    """Remove scratch entries of ``kind`` (and ``key``) left by dead writers; returns a count.

    With ``only_dead=False`` every matching entry goes: use it only while holding the lock
    that all writers of that kind hold.
    """
    prefix = f"{kind}." if key is None else f"{kind}.{key}."
    count = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in os.scandir(tmp):
            if not entry.name.startswith(prefix):
                continue
            pid = owner_pid(entry.name)
            if only_dead and pid is not None and (pid == os.getpid() or _pid_alive(pid)):
                continue
            remove(Path(entry.path))
            count += 1
    return count
