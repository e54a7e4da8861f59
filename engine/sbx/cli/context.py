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
    """The engine for this store (``SBX_ROOT``/``--root``), imported on first use.  An
    ordinary user's command joins the user's namespace first (rootless mode), so that
    everything after runs as root of that namespace."""
    from sbx.engine import Engine
    from sbx.layout import Layout
    from sbx.rootless.idmap import current

    layout = Layout.from_env()
    mode = current()
    if mode.rootless:
        layout.check_owner()
        if not mode.in_userns:
            from sbx.rootless.userns import join

            join()
    return Engine(layout)

