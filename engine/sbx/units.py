"""Parsers for the unit-bearing values of docker-style flags: sizes, CPUs, durations, signals.

Behaviour follows Docker's references: go-units ``RAMInBytes`` for sizes, moby's
``--cpus`` validation, Go's ``time.ParseDuration`` and moby's ``signal.ParseSignal``.
"""

from __future__ import annotations

import re

from sbx.errors import InvalidArgument

__all__ = ["parse_bytes", "parse_cpus", "parse_duration", "parse_signal", "format_duration"]

_SIZE_RE = re.compile(r"^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$")
_BINARY = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_bytes(text: str) -> int:
    """Parse a human size with binary units ("512m", "1g", "1.5GiB", "1024") into bytes.

    Like go-units ``RAMInBytes``: case-insensitive, optional "b"/"ib" suffix, one optional
    space between number and unit, fractions truncated towards zero.
    """
    m = _SIZE_RE.match(text)
    if m is None:
        raise InvalidArgument(f"invalid size: '{text}'",
                              hint="use a number with an optional unit b, k, m, g, t or p")
    try:
        size = float(m.group(1))
    except ValueError:
        raise InvalidArgument(f"invalid size: '{text}'",
                              hint="use a number with an optional unit b, k, m, g, t or p") from None
    unit = (m.group(2) or "").lower()
    return int(size * _BINARY.get(unit, 1))


def parse_cpus(text: str, host_cpus: int | None = None) -> float:
    """Parse a ``--cpus`` value ("0.5", "2") into a CPU count; 0 means "no limit" as in Docker.

    Values are rational numbers with at most nine decimal places (Docker stores nano-CPUs)
    and must lie between 0.01 and the number of host CPUs.
    """
    from fractions import Fraction

    try:
        value = Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise InvalidArgument(f"failed to parse {text} as a rational number",
                              hint="give --cpus as a decimal number such as 1.5") from None
    nano = value * 1_000_000_000
    if nano.denominator != 1:
        raise InvalidArgument(f"invalid --cpus value {text}: value is too precise",
                              hint="use at most 9 decimal places")
    if host_cpus is None:
        import os

        host_cpus = os.cpu_count() or 1
    if nano == 0:
        return 0.0
    if nano < 10_000_000 or nano > host_cpus * 1_000_000_000:
        raise InvalidArgument(
            f"range of CPUs is from 0.01 to {host_cpus}.00, as there are only {host_cpus} CPUs available",
            hint=f"pass --cpus between 0.01 and {host_cpus}")
    return float(value)


_DURATION_UNITS = {
    "ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3,
    "s": 1.0, "m": 60.0, "h": 3600.0,
}
_DURATION_PART = re.compile(r"(\d*)(?:\.(\d*))?([^\d.]*)")


def parse_duration(text: str) -> float:
    """Parse a Go duration ("10s", "1m30s", "500ms", "-1.5h", "0") into seconds."""
    orig = text
    hint = "use a Go duration such as 300ms, 10s, 1m30s or 2h"
    s = text
    neg = False
    if s[:1] in ("-", "+"):
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise InvalidArgument(f'time: invalid duration "{orig}"', hint=hint)
    total = 0.0
    while s:
        m = _DURATION_PART.match(s)
        assert m is not None  # the pattern matches the empty string
        whole, frac, unit = m.group(1), m.group(2), m.group(3)
        if not whole and not frac:
            raise InvalidArgument(f'time: invalid duration "{orig}"', hint=hint)
        if not unit:
            raise InvalidArgument(f'time: missing unit in duration "{orig}"', hint=hint)
        if unit not in _DURATION_UNITS:
            raise InvalidArgument(f'time: unknown unit "{unit}" in duration "{orig}"', hint=hint)
        number = float(f"{whole or '0'}.{frac or '0'}")
        total += number * _DURATION_UNITS[unit]
        s = s[m.end():]
    return -total if neg else total


def format_duration(seconds: float) -> str:
    """Format seconds the way Go prints a time.Duration ("1m30s", "500ms", "0s")."""
    if seconds == 0:
        return "0s"
    sign = "-" if seconds < 0 else ""
    ns = round(abs(seconds) * 1e9)
    if ns < 1000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_trim(ns / 1e3)}\u00b5s"
    if ns < 1_000_000_000:
        return f"{sign}{_trim(ns / 1e6)}ms"
    h, rest = divmod(ns, 3600 * 10**9)
    m, rest = divmod(rest, 60 * 10**9)
    out = sign
    if h:
        out += f"{h}h"
    if h or m:
        out += f"{m}m"
    return out + f"{_trim(rest / 1e9)}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def parse_signal(text: str) -> int:
    """Parse a signal given as a number or a name with or without "SIG" ("TERM", "SIGKILL",
    "15", "RTMIN+3") into its number, like moby's ``signal.ParseSignal``."""
    import signal

    hint = "use a signal name such as SIGTERM, TERM or KILL, or a number"
    maxsig = int(signal.SIGRTMAX)
    raw = text.strip()
    if raw.lstrip("+-").isdigit():
        num = int(raw)
        if num <= 0 or num > maxsig:
            raise InvalidArgument(f"Invalid signal: {text}", hint=hint)
        return num
    name = raw.upper()
    if name.startswith("SIG"):
        name = name[3:]
    rt = re.fullmatch(r"RT(MIN|MAX)(?:([+-])(\d+))?", name)
    if rt:
        base = int(signal.SIGRTMIN) if rt.group(1) == "MIN" else maxsig
        off = int(rt.group(3) or 0) * (-1 if rt.group(2) == "-" else 1)
        num = base + off
        if int(signal.SIGRTMIN) <= num <= maxsig:
            return num
        raise InvalidArgument(f"Invalid signal: {text}", hint=hint)
    member = getattr(signal.Signals, "SIG" + name, None) if name.isalnum() else None
    if member is None or name.startswith("_"):
        raise InvalidArgument(f"Invalid signal: {text}", hint=hint)
    return int(member)
