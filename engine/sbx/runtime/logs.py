"""Container logs: JSON lines like Docker's json-file driver
(``{"log": "...", "stream": "stdout"|"stderr", "time": "RFC3339Nano"}``), so stdout and
stderr stay apart and keep their order; written by the monitor, read by ``sbx logs``."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

MAX_PARTIAL = 16 * 1024

try:  # the C encoder: the lean monitor writes logs without importing ``json`` (and ``re``)
    from _json import encode_basestring as _quote
except ImportError:  # pragma: no cover - other Pythons
    from json import dumps as _quote


def _record(text: str, stream: str, stamp: str) -> str:
    return f'{{"log":{_quote(text)},"stream":"{stream}","time":"{stamp}"}}'


def rfc3339(ns: int) -> str:
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


class LogWriter:
    """Splits a stream into lines; each line becomes one record."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        self._partial: dict[str, bytes] = {}

    def write(self, stream: str, data: bytes) -> None:
        buf = self._partial.pop(stream, b"") + data
        lines = buf.split(b"\n")
        rest = lines.pop()
        if len(rest) >= MAX_PARTIAL:
            lines.append(rest)
            rest = b""
        if rest:
            self._partial[stream] = rest
        if not lines:
            return
        stamp = rfc3339(time.time_ns())
        out = []
        for i, line in enumerate(lines):
            text = line.decode("utf-8", "replace")
            nl = "\n" if i < len(lines) - 1 or not (len(rest) == 0 and len(line) >= MAX_PARTIAL) else ""
            out.append(_record(text + nl, stream, stamp))
        os.write(self.fd, ("\n".join(out) + "\n").encode())

    def flush(self) -> None:
        for stream, rest in list(self._partial.items()):
            self._partial.pop(stream)
            os.write(self.fd, (_record(rest.decode("utf-8", "replace"), stream,
                                       rfc3339(time.time_ns())) + "\n").encode())

    def close(self) -> None:
        self.flush()
        os.close(self.fd)


class LogEntry:
    """One record: the stream, the text (with its newline) and the RFC 3339 time."""

    __slots__ = ("stream", "text", "time")

    def __init__(self, stream: str, text: str, time: str) -> None:
        self.stream = stream
        self.text = text
        self.time = time


def read(path: str, *, tail: int | None = None) -> list[LogEntry]:
    try:
        with open(path, "rb") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return []
    if tail is not None and tail >= 0:
        lines = lines[-tail:] if tail else []
    return [_entry(line) for line in lines if line]


def _entry(raw: bytes) -> LogEntry:
    import json

    try:
        d = json.loads(raw)
        return LogEntry(d.get("stream", "stdout"), d.get("log", ""), d.get("time", ""))
    except ValueError:
        return LogEntry("stdout", raw.decode("utf-8", "replace") + "\n", "")


def follow(path: str, *, start: int, alive: Callable[[], bool], poll: float = 0.05) -> Iterator[LogEntry]:
    """Yield records appended after byte offset ``start`` until ``alive()`` is false."""
    pos = start
    pending = b""
    while True:
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                chunk = f.read()
        except FileNotFoundError:
            return
        if chunk:
            pos += len(chunk)
            pending += chunk
            *complete, pending = pending.split(b"\n")
            for line in complete:
                if line:
                    yield _entry(line)
            continue
        if not alive():
            return
        time.sleep(poll)
