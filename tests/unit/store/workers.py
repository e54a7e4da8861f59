"""Functions run in separate (spawned) processes by the concurrency tests."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

from sbx.layout import Layout
from sbx.oci.digest import Digest


def _count_unpacks(counter: str) -> None:
    """Wrap the store's unpack so every real unpack appends a line to ``counter`` (the
    store imports it from ``sbx.layers.unpack`` when it unpacks)."""
    import sbx.layers.unpack as layers_mod

    real = layers_mod.unpack

    def counting(*args: Any, **kwargs: Any) -> Any:
        fd = os.open(counter, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.close(fd)
        time.sleep(0.2)  # widen the window in which others could start a second unpack
        return real(*args, **kwargs)

    layers_mod.unpack = counting  # type: ignore[assignment]


def import_same(root: str, tar: str, ref: str, counter: str, barrier: Any) -> str:
    from sbx.store import Store

    _count_unpacks(counter)
    store = Store(Layout(Path(root), Path(root) / "run"))
    barrier.wait()
    return str(store.import_rootfs(tar, ref).layer_diff_ids[0])


def ensure_same(root: str, tar: str, diff_id: str, counter: str, barrier: Any) -> str:
    from sbx.store import Store

    _count_unpacks(counter)
    store = Store(Layout(Path(root), Path(root) / "run"))
    barrier.wait()
    with open(tar, "rb") as f:
        return str(store.add_layer_from_tar(f, diff_id=Digest.parse(diff_id)).diff_id)


def report(fn: Any, args: tuple[Any, ...], barrier: Any, results: Any) -> None:
    """Run ``fn(*args, barrier)`` and put ``(ok, value)`` on the results queue."""
    try:
        results.put((True, fn(*args, barrier)))
    except BaseException as exc:  # noqa: BLE001 - reported to the parent
        results.put((False, f"{type(exc).__name__}: {exc}"))


def ingest_and_hang(root: str, expected: str, data_file: str, started: Any) -> None:
    from sbx.store import Store

    data = Path(data_file).read_bytes()
    store = Store(Layout(Path(root), Path(root) / "run"))
    with store.ingest(Digest.parse(expected), len(data)) as w:
        w.write(data[: len(data) // 2])
        w._file.flush()
        started.set()
        time.sleep(120)
        w.write(data[len(data) // 2:])


class _Stalling(io.RawIOBase):
    """Gives ``limit`` bytes of ``path``, then signals and blocks forever."""

    def __init__(self, path: str, limit: int, started: Any) -> None:
        self._f = open(path, "rb")  # noqa: SIM115
        self._left = limit
        self._started = started

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        if self._left <= 0:
            self._started.set()
            time.sleep(120)
        data = self._f.read(min(len(b), self._left))
        self._left -= len(data)
        b[: len(data)] = data
        return len(data)


def unpack_and_hang(root: str, tar: str, diff_id: str, started: Any) -> None:
    from sbx.store import Store

    store = Store(Layout(Path(root), Path(root) / "run"))
    reader = io.BufferedReader(_Stalling(tar, os.path.getsize(tar) // 2, started))
    store.add_layer_from_tar(reader, diff_id=Digest.parse(diff_id))  # type: ignore[arg-type]
