"""Instruction flags (``--name=value``): per-instruction specs, parsing and Go durations.

Mirrors BuildKit's ``instructions/bflag.go``: a bool flag takes no value or
``=true``/``=false``; a string flag needs ``=value`` and may appear once; a list flag
(``--exclude``, ``--mount``) needs ``=value`` and may repeat; ``--`` ends the flags.
Errors raise ``FlagError``, which the parser turns into a ``DockerfileError`` naming
the line.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass

from sbx.build.dockerfile.suggest import closest


class FlagKind(enum.Enum):
    BOOL = "bool"
    STRING = "string"
    STRINGS = "strings"


class FlagError(ValueError):
    """A flag is unknown, repeated, or has a bad value (converted to DockerfileError)."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass(frozen=True)
class FlagValues:
    """The flags an instruction was given, by name (without the dashes)."""

    values: Mapping[str, str | bool | tuple[str, ...]]

    def string(self, name: str) -> str | None:
        value = self.values.get(name)
        return value if isinstance(value, str) else None

    def boolean(self, name: str) -> bool | None:
        value = self.values.get(name)
        return value if isinstance(value, bool) else None

    def strings(self, name: str) -> tuple[str, ...]:
        value = self.values.get(name)
        return value if isinstance(value, tuple) else ()

    def used(self) -> tuple[str, ...]:
        return tuple(self.values)


def parse_flags(words: tuple[str, ...], specs: Mapping[str, FlagKind]) -> FlagValues:
    """Check ``words`` (``--name[=value]``) against ``specs``; raises ``FlagError``."""
    values: dict[str, str | bool | tuple[str, ...]] = {}
    for word in words:
        if word == "--":
            break
        if not word.startswith("--"):
            raise FlagError(f"arg should start with -- : {word}")
        flag, has_value, value = word.partition("=")
        name = flag[2:]
        kind = specs.get(name)
        if kind is None:
            suggestion = closest(name, list(specs), case_sensitive=True)
            hint = f"did you mean --{suggestion}?" if suggestion else _known(specs)
            raise FlagError(f"unknown flag: {flag}", hint)
        if name in values and kind is not FlagKind.STRINGS:
            raise FlagError(f"duplicate flag specified: {flag}", "give each flag once")
        if kind is FlagKind.BOOL:
            if has_value and value == "":
                raise FlagError(f"missing a value on flag: {flag}")
            lowered = value.lower()
            if lowered not in ("", "true", "false"):
                raise FlagError(f"expecting boolean value for flag {flag}, not: {value}")
            values[name] = lowered != "false"
        elif not has_value:
            raise FlagError(f"missing a value on flag: {flag}", f"write {flag}=VALUE")
        elif kind is FlagKind.STRING:
            values[name] = value
        else:
            previous = values.get(name, ())
            assert isinstance(previous, tuple)
            values[name] = (*previous, value)
    return FlagValues(values)


def _known(specs: Mapping[str, FlagKind]) -> str:
    if not specs:
        return "this instruction takes no flags"
    return "known flags: " + ", ".join(f"--{name}" for name in specs)


_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-zµμ]+)")
_UNIT_NS = {
    "ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
    "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
}


def parse_duration(text: str) -> int:
    """Parse a Go duration (``1h2m3.5s``, ``300ms``, ``-1.5h``) into nanoseconds."""
    original = text
    sign = 1
    if text[:1] in ("-", "+"):
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    if text == "0":
        return 0
    if not text:
        raise FlagError(f'time: invalid duration "{original}"')
    total = 0
    pos = 0
    while pos < len(text):
        match = _DURATION_PART.match(text, pos)
        if not match or match.group(1) in ("", "."):
            if match is None and re.match(r"[0-9.]+\Z", text[pos:]):
                raise FlagError(f'time: missing unit in duration "{original}"')
            raise FlagError(f'time: invalid duration "{original}"')
        number, unit = match.groups()
        if unit not in _UNIT_NS:
            raise FlagError(f'time: unknown unit "{unit}" in duration "{original}"')
        whole, _dot, frac = number.partition(".")
        scale = _UNIT_NS[unit]
        total += int(whole or 0) * scale
        if frac:
            total += int(frac) * scale // 10 ** len(frac)
        pos = match.end()
    return sign * total
