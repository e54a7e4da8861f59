"""How one logical Dockerfile line splits into keyword, ``--flags``, words and JSON arrays.

These are the parser-level splits of BuildKit's ``parser/split_command.go`` and
``parser/line_parsers.go``: they decide *where* the arguments are and keep quotes and
escapes in the words; removing quotes and expanding variables is ``expand``'s job.
"""

from __future__ import annotations

import json
import re

# Go's regexp ``[\t\v\f\r ]+`` used by Docker to split on whitespace.
WHITESPACE = re.compile(r"[\t\v\f\r ]+")


class NotStringArray(ValueError):
    """A JSON array holds something other than strings (Docker rejects it)."""

    message = "when using JSON array syntax, arrays must be comprised of strings only"


def split_command(line: str, escape: str) -> tuple[str, tuple[str, ...], str]:
    """Split a logical line into ``(keyword, flags, rest)``; the keyword keeps its case."""
    parts = WHITESPACE.split(line.strip(), maxsplit=1)
    if len(parts) < 2:
        return parts[0], (), ""
    flags, rest = extract_flags(parts[1], escape)
    return parts[0], flags, rest.strip()


def extract_flags(text: str, escape: str) -> tuple[tuple[str, ...], str]:
    """Take the leading ``--name[=value]`` words; a bare ``--`` ends them.

    Quotes and the escape character work inside a flag word and are removed, as in
    Docker (``--chown="a b"`` gives ``--chown=a b``).
    """
    flags: list[str] = []
    pos = 0
    n = len(text)
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            return tuple(flags), ""
        if not text.startswith("--", pos):
            return tuple(flags), text[pos:]
        word: list[str] = []
        blank_ok = False
        quote = ""
        while pos < n:
            ch = text[pos]
            if quote:
                if ch == quote:
                    quote = ""
                elif ch == escape:
                    if pos + 1 == n:
                        pos += 1
                        continue
                    pos += 1
                    word.append(text[pos])
                else:
                    word.append(ch)
                pos += 1
                continue
            if ch.isspace():
                break
            if ch in ("'", '"'):
                quote = ch
                blank_ok = True
            elif ch == escape:
                if pos + 1 < n:
                    pos += 1
                    word.append(text[pos])
            else:
                word.append(ch)
            pos += 1
        joined = "".join(word)
        if joined == "--":
            return tuple(flags), text[pos:]
        if blank_ok or joined:
            flags.append(joined)


def split_quoted_words(text: str, escape: str) -> list[str]:
    """Split on unquoted whitespace, keeping quotes and escapes in the words.

    This is Docker's ``parseWords``, used for ``ENV``, ``LABEL`` and ``ARG``:
    ``a="b c" d`` gives ``['a="b c"', 'd']``.
    """
    words: list[str] = []
    buf: list[str] = []
    in_word = False
    blank_ok = False
    quote = ""
    pos = 0
    n = len(text)
    while pos < n:
        ch = text[pos]
        if not in_word and not quote:
            if ch.isspace():
                pos += 1
                continue
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if pos + 1 == n:
                    pos += 1
                    continue
                buf.append(ch)
                pos += 1
                ch = text[pos]
            buf.append(ch)
            pos += 1
            continue
        if ch.isspace():
            if blank_ok or buf:
                words.append("".join(buf))
            buf.clear()
            in_word = False
            blank_ok = False
            pos += 1
            continue
        if ch in ("'", '"'):
            quote = ch
            blank_ok = True
        if ch == escape:
            if pos + 1 == n:
                pos += 1
                continue
            buf.append(ch)
            pos += 1
            ch = text[pos]
        buf.append(ch)
        pos += 1
    if (in_word or quote) and (blank_ok or buf):
        words.append("".join(buf))
    return words


def split_whitespace(text: str) -> list[str]:
    """Docker's ``parseStringsWhitespaceDelimited``: plain splitting, no quoting."""
    if not text:
        return []
    return [word for word in WHITESPACE.split(text) if word != ""] or []


def parse_json_array(text: str) -> list[str] | None:
    """The strings of a JSON array, or None when ``text`` is not a JSON array.

    Raises ``NotStringArray`` for a valid array that holds non-strings, as Docker does;
    anything else that fails to parse is not JSON, and the caller falls back to the
    shell form.
    """
    text = text.lstrip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(item, str) for item in value):
        raise NotStringArray(NotStringArray.message)
    return value


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")
