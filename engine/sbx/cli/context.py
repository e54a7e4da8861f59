"""What every command starts with: its parsed flags (or its help, printed) and the engine."""

from __future__ import annotations

import sys
from typing import Any

from sbx.cli.flags import CommandSpec, Parsed, help_text, parse


def parse_or_help(spec: CommandSpec, argv: list[str]) -> Parsed | None:
    """The parsed flags, or None after printing the help that ``-h`` asked for."""
    p = parse(spec, argv)
    if p.help:
        sys.stdout.write(help_text(spec))
        return None
    return p


def open_engine() -> Any:
    """The engine for this store (``SBX_ROOT``/``--root``), imported on first use."""
    from sbx.engine import Engine

    return Engine.from_env()
