"""Pull and push progress: a per-blob callback protocol and a Docker-like terminal renderer.

The client calls a :data:`ProgressCallback` with (bytes done, total or None) while a blob
moves.  :class:`TerminalProgress` turns those calls, plus status events from the caller
(``Pulling fs layer``, ``Already exists``, ``Pull complete``...), into Docker's lines::

    5eb5b503b376: Pulling fs layer
    5eb5b503b376: Downloading [==>                                                ]  1.2MB/4MB
    5eb5b503b376: Pull complete

On a TTY each blob keeps one line that is redrawn in place; elsewhere only status changes
are printed, one plain line each.  Safe to use from several download threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TextIO

from sbx.oci.digest import Digest

ProgressCallback = Callable[[int, "int | None"], None]
BAR_WIDTH = 50

PULLING = "Pulling fs layer"
WAITING = "Waiting"
DOWNLOADING = "Downloading"
VERIFYING = "Verifying Checksum"
DOWNLOAD_COMPLETE = "Download complete"
EXTRACTING = "Extracting"
PULL_COMPLETE = "Pull complete"
ALREADY_EXISTS = "Already exists"
PREPARING = "Preparing"
PUSHING = "Pushing"
PUSHED = "Pushed"
MOUNTED = "Mounted from"
LAYER_EXISTS = "Layer already exists"


def human_size(n: float) -> str:
    """Docker's decimal units: ``1.2MB``, ``512B``, ``4.1GB``."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.3g}{unit}"
        n /= 1000
    raise AssertionError


def bar(done: int, total: int | None) -> str:
    """``[==>      ] 1.2MB/4MB`` (or just the byte count when the total is unknown)."""
    if not total:
        return human_size(done)
    filled = min(BAR_WIDTH, done * BAR_WIDTH // total)
    arrow = ">" if filled < BAR_WIDTH else "="
    body = ("=" * filled + arrow)[:BAR_WIDTH].ljust(BAR_WIDTH)
    return f"[{body}] {human_size(done):>7}/{human_size(total)}"


class TerminalProgress:
    """Renders per-blob status lines on ``out``; call :meth:`close` at the end."""

    def __init__(self, out: TextIO, *, tty: bool | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self._order: list[str] = []
        self._lines: dict[str, str] = {}
        self._last_status: dict[str, str] = {}
        self._drawn = 0
        self._lock = threading.Lock()

    def status(self, digest: Digest | str, text: str) -> None:
        """Set a blob's status line (``Pulling fs layer``, ``Pull complete``...)."""
        key = self._key(digest)
        with self._lock:
            self._set(key, f"{key}: {text}")
            if not self.tty and self._last_status.get(key) != text:
                self.out.write(f"{key}: {text}\n")
                self.out.flush()
            self._last_status[key] = text

    def callback(self, digest: Digest | str, verb: str = DOWNLOADING) -> ProgressCallback:
        """A callback for ``fetch_blob``/``push_blob`` that draws ``verb [===>  ] a/b``."""
        key = self._key(digest)

        def update(done: int, total: int | None) -> None:
            with self._lock:
                if not self.tty:
                    if self._last_status.get(key) != verb:
                        self._last_status[key] = verb
                        self.out.write(f"{key}: {verb}\n")
                        self.out.flush()
                    return
                self._set(key, f"{key}: {verb} {bar(done, total)}")

        return update

    def message(self, text: str) -> None:
        """A line that is not about one blob (``Digest: sha256:...``, ``Status: ...``)."""
        with self._lock:
            self._redraw()
            self.out.write(text + "\n")
            self.out.flush()
            self._order.clear()
            self._lines.clear()
            self._drawn = 0

    def close(self) -> None:
        with self._lock:
            self._redraw()
            self._order.clear()
            self._lines.clear()
            self._drawn = 0

    @staticmethod
    def _key(digest: Digest | str) -> str:
        return digest.short if isinstance(digest, Digest) else str(digest)[:12]

    def _set(self, key: str, line: str) -> None:
        if key not in self._lines:
            self._order.append(key)
        self._lines[key] = line
        if self.tty:
            self._redraw()

    def _redraw(self) -> None:
        if not self.tty:
            return
        w = self.out.write
        if self._drawn:
            w(f"\x1b[{self._drawn}A")
        for key in self._order:
            w(f"\r\x1b[2K{self._lines[key]}\n")
        self._drawn = len(self._order)
        self.out.flush()
