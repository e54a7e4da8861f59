"""The Docker-like progress renderer: plain lines off a TTY, a redrawn bar on one."""

from __future__ import annotations

import io

from sbx.oci.digest import Digest
from sbx.registry.progress import (
    ALREADY_EXISTS,
    PULL_COMPLETE,
    PULLING,
    TerminalProgress,
    bar,
    human_size,
)

D1 = Digest.of_bytes(b"one")
D2 = Digest.of_bytes(b"two")


def test_human_size() -> None:
    assert [human_size(n) for n in (0, 999, 1200, 1_234_567, 4_000_000_000)] == \
        ["0B", "999B", "1.2kB", "1.23MB", "4GB"]


def test_bar() -> None:
    assert bar(0, 100).startswith("[>" + " " * 49 + "]")
    assert bar(50, 100).startswith("[" + "=" * 25 + ">")
    assert bar(100, 100).startswith("[" + "=" * 50 + "]")
    assert bar(1_200_000, 4_000_000).endswith(" 1.2MB/4MB")
    assert bar(5, None) == "5B"


def test_plain_lines_off_tty() -> None:
    out = io.StringIO()
    p = TerminalProgress(out)
    p.status(D1, PULLING)
    p.status(D2, ALREADY_EXISTS)
    cb = p.callback(D1)
    for n in (10, 20, 30):
        cb(n, 30)
    p.status(D1, PULL_COMPLETE)
    p.message(f"Digest: {D1}")
    p.close()
    assert out.getvalue().splitlines() == [
        f"{D1.short}: Pulling fs layer", f"{D2.short}: Already exists",
        f"{D1.short}: Downloading", f"{D1.short}: Pull complete", f"Digest: {D1}"]


def test_tty_redraws_in_place() -> None:
    out = io.StringIO()
    p = TerminalProgress(out, tty=True)
    p.status(D1, PULLING)
    p.status(D2, PULLING)
    p.callback(D1)(1_200_000, 4_000_000)
    p.status(D1, PULL_COMPLETE)
    p.close()
    text = out.getvalue()
    assert "\x1b[2A" in text  # cursor moved up over the two blob lines
    assert f"{D1.short}: Downloading [===============>" in text and "1.2MB/4MB" in text
    last = text.rsplit("\x1b[2A", 1)[1]
    assert f"{D1.short}: Pull complete" in last and f"{D2.short}: Pulling fs layer" in last
