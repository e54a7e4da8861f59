"""Human-readable output as the docker CLI prints it: durations, sizes, statuses, times, tables.

References: go-units ``HumanDuration``/``HumanSize``/``BytesSize``, moby's
``container.State.String``, Go's ``time.RFC3339Nano`` and ``text/tabwriter`` with the
docker CLI's settings (minwidth 10, tabwidth 1, padding 3, padchar ' ').
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Sequence

from sbx.errors import InvalidArgument

__all__ = [
    "human_duration", "created_ago", "status_text", "human_size", "bytes_size",
    "parse_timestamp", "parse_timestamp_ns", "format_rfc3339_nano", "format_rfc3339_nano_ns",
    "ZERO_TIME", "tabwrite", "table", "truncate_command", "ellipsis", "go_quote",
]

ZERO_TIME = "0001-01-01T00:00:00Z"
"""How Go prints an unset time.Time (Docker shows it for a container never started)."""


# ---------------------------------------------------------------- durations and statuses

def human_duration(seconds: float) -> str:
    """Describe a duration like go-units ``HumanDuration`` ("About a minute", "3 hours")."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def created_ago(ts: float, now: float | None = None) -> str:
    """The CREATED column of ``ps``/``images``: "4 seconds ago"."""
    now = time.time() if now is None else now
    return f"{human_duration(now - ts)} ago"


def status_text(state: str, started_at: float | None, finished_at: float | None,
                exit_code: int | None, now: float | None = None, *,
                health: str | None = None) -> str:
    """The STATUS column of ``ps``, worded like moby's ``State.String``.

    ``state`` is one of created, running, paused, restarting, removing, exited, dead.
    """
    now = time.time() if now is None else now
    code = exit_code if exit_code is not None else 0
    if state in ("running", "paused", "restarting"):
        if state == "paused":
            return f"Up {human_duration(now - (started_at or now))} (Paused)"
        if state == "restarting":
            return f"Restarting ({code}) {human_duration(now - (finished_at or now))} ago"
        up = f"Up {human_duration(now - (started_at or now))}"
        return f"{up} ({health})" if health else up
    if state == "removing":
        return "Removal In Progress"
    if state == "dead":
        return "Dead"
    if not started_at:
        return "Created"
    if not finished_at:
        return ""
    return f"Exited ({code}) {human_duration(now - finished_at)} ago"


# ---------------------------------------------------------------- sizes

_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")


def _custom_size(size: float, base: float, units: tuple[str, ...], precision: int) -> str:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return f"{size:.{precision}g}{units[i]}"


def human_size(n: float, precision: int = 4) -> str:
    """Decimal size like go-units ``HumanSize`` ("1.23MB", "512B", "1.5kB").

    ``precision`` is the number of significant digits; ``docker ps -s`` and ``docker
    images`` use 3 (``HumanSizeWithPrecision``), ``HumanSize`` uses 4.
    """
    return _custom_size(float(n), 1000.0, _DECIMAL, precision)


def bytes_size(n: float) -> str:
    """Binary size like go-units ``BytesSize`` ("1.5MiB"), as ``docker stats`` prints."""
    return _custom_size(float(n), 1024.0, _BINARY, 4)


# ---------------------------------------------------------------- timestamps

_TS_RE = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d\d):(\d\d))")


def _days_from_civil(y: int, m: int, d: int) -> int:
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(z: int) -> tuple[int, int, int]:
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + (3 if mp < 10 else -9)
    return y + (m <= 2), m, d


def parse_timestamp_ns(text: str) -> int | None:
    """Parse an RFC 3339 timestamp into nanoseconds since the epoch (None for Go's zero time)."""
    m = _TS_RE.fullmatch(text.strip())
    if m is None:
        raise InvalidArgument(f"invalid timestamp: {text!r}",
                              hint="expected RFC 3339 such as 2024-05-01T12:00:00.5Z")
    y, mo, d, hh, mi, ss = (int(m.group(i)) for i in range(1, 7))
    if y == 1 and mo == 1 and d == 1 and hh == mi == ss == 0:
        return None
    if not (1 <= mo <= 12 and 1 <= d <= 31 and hh < 24 and mi < 60 and ss < 61):
        raise InvalidArgument(f"invalid timestamp: {text!r}", hint="a date field is out of range")
    frac = int((m.group(7) or "").ljust(9, "0"))
    offset = 0
    if m.group(9):
        offset = (int(m.group(10)) * 3600 + int(m.group(11)) * 60) * (1 if m.group(9) == "+" else -1)
    secs = _days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - offset
    return secs * 1_000_000_000 + frac


def parse_timestamp(text: str) -> float | None:
    """Parse an RFC 3339 timestamp into seconds since the epoch (None for Go's zero time)."""
    ns = parse_timestamp_ns(text)
    return None if ns is None else ns / 1e9


def format_rfc3339_nano_ns(ns: int | None) -> str:
    """Format nanoseconds since the epoch like Go's RFC3339Nano in UTC (trailing zeros cut)."""
    if ns is None:
        return ZERO_TIME
    secs, frac = divmod(int(ns), 1_000_000_000)
    days, rest = divmod(secs, 86400)
    y, mo, d = _civil_from_days(days)
    hh, rest = divmod(rest, 3600)
    mi, ss = divmod(rest, 60)
    fraction = f".{frac:09d}".rstrip("0") if frac else ""
    return f"{y:04d}-{mo:02d}-{d:02d}T{hh:02d}:{mi:02d}:{ss:02d}{fraction}Z"


def format_rfc3339_nano(ts: float | None) -> str:
    """Format epoch seconds like Docker's inspect ("2026-11-28T13:05:05.123456Z").

    A float holds about microsecond precision at today's epoch, so the value is rounded
    to microseconds; use :func:`format_rfc3339_nano_ns` for exact nanoseconds.
    """
    if ts is None:
        return ZERO_TIME
    return format_rfc3339_nano_ns(round(ts * 1_000_000) * 1000)


# ---------------------------------------------------------------- tables

def _width(text: str) -> int:
    return len(text)


def tabwrite(text: str, minwidth: int = 10, tabwidth: int = 1, padding: int = 3) -> str:
    """Align tab-terminated cells like Go's ``text/tabwriter`` with padchar ' ' and no flags.

    A cell is text ending in a tab; the text after a line's last tab is not part of a
    column.  Consecutive lines with a cell in the same column form a column block whose
    width is the widest cell plus ``padding`` (at least ``minwidth``).
    """
    del tabwidth  # only used when padchar is a tab
    ends_nl = text.endswith("\n")
    lines = [line.split("\t") for line in (text[:-1] if ends_nl else text).split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            cells = lines[i]
            parts = []
            for j, cell in enumerate(cells):
                if j < len(widths) and j < len(cells) - 1:
                    parts.append(cell + " " * (widths[j] - _width(cell)))
                else:
                    parts.append(cell)
            out.append("".join(parts))

    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, _width(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    fmt(0, len(lines))
    return "\n".join(out) + ("\n" if ends_nl else "")


def table(rows: Iterable[Sequence[str]], headers: Sequence[str] | None = None) -> str:
    """Render a docker-style table (header row first) with the CLI's tabwriter settings."""
    lines = [] if headers is None else ["\t".join(headers)]
    lines.extend("\t".join(str(c) for c in row) for row in rows)
    return tabwrite("".join(line + "\n" for line in lines))


# ---------------------------------------------------------------- strings

def _display_width(ch: str) -> int:
    if ch < "\u1100":
        return 1
    import unicodedata

    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def ellipsis(text: str, max_width: int) -> str:
    """Cut ``text`` to ``max_width`` display columns, ending with "…" when cut (docker CLI)."""
    if max_width <= 0:
        return ""
    if text.isascii():
        return text if len(text) <= max_width else text[: max_width - 1] + "\u2026"
    total = 0
    cut = None
    for i, ch in enumerate(text):
        total += _display_width(ch)
        if cut is None and total > max_width - 1:
            cut = i
    if total <= max_width:
        return text
    return text[: cut or 0] + "\u2026"


_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t",
            "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def go_quote(text: str) -> str:
    """Quote like Go's ``strconv.Quote``: printable characters kept, others escaped."""
    out = ['"']
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable() or ch == " ":
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def truncate_command(command: str, trunc: bool = True, width: int = 20) -> str:
    """The COMMAND column of ``ps``: cut to 20 columns with "…" (unless --no-trunc), quoted."""
    return go_quote(ellipsis(command, width) if trunc else command)
