"""Atomic file writes (temp file in the same directory, fsync, rename) and JSON reads."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_bytes(path: Path, data: bytes, *, mode: int = 0o644, fsync: bool = False) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new file, never half."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if fsync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_json(path: Path, obj: Any, *, fsync: bool = False) -> None:
    write_bytes(path, json.dumps(obj, separators=(",", ":")).encode(), fsync=fsync)


def read_json(path: Path) -> Any:
    with open(path, "rb") as f:
        return json.loads(f.read())
