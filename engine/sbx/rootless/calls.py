"""Engine calls that write layers (build, pull), made by a process outside the user's
namespace (the pytest plugin, a script using the API): they run in a fork that joins
``U`` (through the fork server when the caller has threads), with the output relayed
back over a pipe and the result, or the error, pickled back over another::

    caller (outside U)                    worker (a fork, joined U)
    pipes out, res; fork ───────────────► join U; Engine(layout).build(..., output=out)
    relay out to output() ◄────────────── output bytes
    read EOF on out ◄──────────────────── close out
    unpickle res ◄──────────────────────── ("ok", result) or ("err", exception); exit
"""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sbx.errors import SbxError
from sbx.linux import proc


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


class _TextOut:
    """A text stream (``write``/``flush``) that goes to a pipe: pull's progress lines."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, s: str) -> int:
        _write_all(self.fd, s.encode())
        return len(s)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False


def _engine(root: str, runroot: str) -> Any:
    from sbx.engine import Engine
    from sbx.layout import Layout

    return Engine(Layout(Path(root), Path(runroot)))


def _build(engine: Any, kwargs: dict[str, Any], out_fd: int) -> Any:
    return engine.build(**kwargs, output=lambda b: _write_all(out_fd, b))


def _pull(engine: Any, kwargs: dict[str, Any], out_fd: int) -> Any:
    quiet = kwargs.pop("quiet")
    return engine.pull(**kwargs, out=None if quiet else _TextOut(out_fd))


CALLS: dict[str, Callable[[Any, dict[str, Any], int], Any]] = {"build": _build, "pull": _pull}


def worker(payload: bytes, out_fd: int, res_fd: int) -> None:
    """The worker's side (never returns): join ``U``, run the call, report."""
    from sbx.rootless.userns import join

    try:
        name, root, runroot, kwargs = pickle.loads(payload)
        join()
        result: tuple[str, Any] = ("ok", CALLS[name](_engine(root, runroot), kwargs, out_fd))
    except BaseException as e:  # noqa: BLE001 - every failure goes back to the caller
        result = ("err", e)
    os.close(out_fd)
    try:
        data = pickle.dumps(result)
    except Exception as e:  # noqa: BLE001 - an unpicklable result or error
        data = pickle.dumps(("err", SbxError(f"{result[1]!r} ({e})")))
    try:
        _write_all(res_fd, data)
    finally:
        os._exit(0)


def call(name: str, layout: Any, kwargs: dict[str, Any], output: Callable[[bytes], Any] | None) -> Any:
    """Run ``CALLS[name]`` inside ``U``; ``output`` gets the bytes it writes."""
    from sbx.rootless.userns import ensure, state_dir

    ensure(state_dir())
    payload = pickle.dumps((name, str(layout.root), str(layout.runroot), kwargs))
    out_r, out_w = os.pipe()
    res_r, res_w = os.pipe()
    pid = -1
    try:
        if threading.active_count() > 1:
            from sbx.runtime.forkserver import ForkServer

            ForkServer.get().call(payload, out_w, res_w)
        else:
            pid = os.fork()
            if pid == 0:
                proc.forked_child()
                os.close(out_r)
                os.close(res_r)
                worker(payload, out_w, res_w)
    finally:
        os.close(out_w)
        os.close(res_w)
    try:
        while chunk := os.read(out_r, 65536):
            if output is not None:
                output(chunk)
        chunks = []
        while chunk := os.read(res_r, 65536):
            chunks.append(chunk)
    finally:
        os.close(out_r)
        os.close(res_r)
        if pid > 0:
            os.waitpid(pid, 0)
    if not chunks:
        raise SbxError(f"{name} in the user namespace ended without a result",
                       hint="see the output above")
    status, value = pickle.loads(b"".join(chunks))
    if status == "err":
        raise value
    return value
