"""Here-documents in ``RUN``, ``COPY`` and ``ADD`` (BuildKit's ``<<EOF`` syntax).

A heredoc word is ``[fd]<<[-]WORD``: ``-`` strips leading tabs from the body and from
the terminator line; quoting any part of ``WORD`` (``<<"EOF"``, ``<<'EOF'``) turns off
variable expansion of the body.  Several heredocs may open on one line; their bodies
follow in order, each ended by a line holding exactly its name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sbx.build.dockerfile.expand import ShellLexer
from sbx.errors import ExpansionError

_HEREDOC = re.compile(r"^([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)\Z")
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)
_NO_ENV: dict[str, str] = {}


@dataclass(frozen=True)
class Heredoc:
    """One here-document: its terminator ``name`` and its ``content`` as written.

    ``content`` keeps every body line with its newline; ``data`` is what the builder
    writes (leading tabs removed when ``chomp``).  ``expand`` is False when the
    delimiter was quoted.  ``fd`` is the file descriptor prefix (``3<<EOF``), 0 if none.
    """

    name: str
    content: str = ""
    expand: bool = True
    chomp: bool = False
    fd: int = 0

    @property
    def data(self) -> str:
        return _LEADING_TABS.sub("", self.content) if self.chomp else self.content

    @classmethod
    def parse_word(cls, word: str) -> Heredoc | None:
        """The heredoc a word opens (``<<EOF``, ``<<-"EOF"``, ``3<<EOF``), or None."""
        match = _HEREDOC.match(word)
        if not match or not match.group(3):
            return None
        rest = match.group(3)
        cooked = ShellLexer(skip_unset=True).process_words(rest, _NO_ENV)
        if len(cooked) != 1:
            return None
        raw = ShellLexer(skip_unset=True, raw_quotes=True).process_words(rest, _NO_ENV)
        name = cooked[0]
        quotes_cooked = name.count("'") + name.count('"')
        quotes_raw = raw[0].count("'") + raw[0].count('"')
        return cls(name=name, expand=quotes_cooked == quotes_raw,
                   chomp=match.group(2) == "-", fd=int(match.group(1) or 0))


def heredocs_in_line(line: str) -> list[Heredoc]:
    """Every heredoc opened on a logical line, in order (BuildKit's ``heredocsFromLine``).

    The line is split with BuildKit's rules (quotes and escapes kept, unset variables
    left alone); a line that does not lex, e.g. an unmatched quote, opens none.
    """
    lexer = ShellLexer(raw_quotes=True, raw_escapes=True, skip_unset=True)
    try:
        words = lexer.process_words(line, _NO_ENV)
    except ExpansionError:  # Docker ignores the lexing error here
        return []
    docs = []
    for word in words:
        doc = Heredoc.parse_word(word)
        if doc is not None:
            docs.append(doc)
    return docs
