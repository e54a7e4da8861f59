"""Go's ``path.Match`` / ``filepath.Match`` patterns (Linux) as Python regexes: ``*`` and
``?`` never cross ``/``, ``[...]`` classes (``^`` or ``!`` negates) never match ``/``,
``\\`` escapes.  Used by COPY/ADD sources and by ``--filter reference=``; each caller turns
a ``ValueError`` into its own error."""

from __future__ import annotations

import re


def translate(pattern: str) -> str:
    """The regex (without anchors) for ``pattern``; ValueError on an unclosed ``[``."""
    out, i, n = [], 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i < n:
            out.append(re.escape(pattern[i]))
            i += 1
        elif ch == "[":
            end = pattern.find("]", i + 1 if i < n and pattern[i] in "^!" else i)
            if end < 0:
                raise ValueError(f"unclosed [ in {pattern!r}")
            body = pattern[i:end]
            if body[:1] in ("^", "!"):
                body = "^" + body[1:]
            out.append(f"(?!/)[{body}]")
            i = end + 1
        else:
            out.append(re.escape(ch))
    return "".join(out)


def compile_pattern(pattern: str) -> re.Pattern[str]:
    """``pattern`` compiled to match a whole name."""
    return re.compile(translate(pattern) + r"\Z", re.S)
