"""Dockerfile text to logical lines: parser directives, comments, continuations, heredocs.

Follows BuildKit's ``frontend/dockerfile/parser/parser.go`` and ``directives.go``:

* A UTF-8 byte-order mark is dropped; ``\\r\\n`` line ends are accepted.
* Parser directives (``# escape=``, ``# syntax=``, ``# check=``; keys in any case) are
  read only from the first lines of the file.  The first line that is not a directive
  (a blank line, any other comment, an instruction) ends them.  A repeated directive is
  an error; an unknown one is just a comment and ends the directives.
* A comment is a line whose first non-blank character is ``#``.  Inside a continued
  instruction, comment lines and blank lines are dropped without ending it (a blank
  one draws the "empty continuation line" warning, as in BuildKit).
* The escape character (``\\`` or, with ``# escape=`\\```, a backtick) as the last
  non-blank character continues the instruction on the next line; the leading
  whitespace of an instruction's first line is dropped, that of continuation lines kept.
* ``RUN``, ``COPY`` and ``ADD`` (also under ``ONBUILD``) in shell form may open
  heredocs; their bodies are the following physical lines, up to each terminator.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sbx.build.dockerfile.heredoc import Heredoc, heredocs_in_line
from sbx.build.dockerfile.words import NotStringArray, parse_json_array, split_command
from sbx.errors import DockerfileError, ExpansionError

_DIRECTIVE = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)[\t\n\v\f\r ]*=[\t\n\v\f\r ]*(.+?)[\t\n\v\f\r ]*\Z")
_DIRECTIVE_KEYS = ("escape", "syntax", "check")
_HEREDOC_KEYWORDS = frozenset({"run", "copy", "add"})
EMPTY_CONTINUATION_URL = "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/"


@dataclass(frozen=True)
class Directives:
    """The parser directives at the top of a Dockerfile."""

    escape: str = "\\"
    syntax: str | None = None
    check: str | None = None


@dataclass(frozen=True)
class LogicalLine:
    """One instruction's text with continuations joined and comments removed.

    ``line`` is the 1-based physical line it starts on; ``end_line`` the last physical
    line it uses, heredoc bodies and terminators included.
    """

    text: str
    line: int
    end_line: int
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True)
class ParseWarning:
    """Something Docker accepts but warns about (for now only empty continuation lines)."""

    line: int
    message: str
    url: str = ""


@dataclass(frozen=True)
class Lexed:
    """The lexer's result: directives, logical lines and warnings."""

    directives: Directives
    lines: tuple[LogicalLine, ...]
    warnings: tuple[ParseWarning, ...]


def lex(text: str, *, path: str = "Dockerfile") -> Lexed:
    """Split Dockerfile ``text`` into logical lines; raises ``DockerfileError``."""
    return _Lexer(text, path).run()


def _physical_lines(text: str) -> Iterator[str]:
    start = 0
    while start < len(text):
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end + 1]
        start = end + 1


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


class _Lexer:
    def __init__(self, text: str, path: str) -> None:
        self.lines = list(_physical_lines(text.removeprefix("\ufeff")))
        self.path = path
        self.pos = 0  # index of the next physical line; equals the last line number read
        self.directives_done = False
        self.seen: dict[str, str] = {}
        self.escape = "\\"
        self.continuation = self._continuation_regex("\\")

    @staticmethod
    def _continuation_regex(escape: str) -> re.Pattern[str]:
        e = re.escape(escape)
        return re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")

    def error(self, message: str, line: int, hint: str | None = None) -> DockerfileError:
        return DockerfileError(message, path=self.path, line=line, hint=hint)

    def run(self) -> Lexed:
        logical: list[LogicalLine] = []
        warnings: list[ParseWarning] = []
        while self.pos < len(self.lines):
            first = self._process(self._next_line(), strip_left=True)
            start = self.pos
            text, ended = self._trim_continuation(first)
            if ended and not text:
                continue
            parts = [text]
            empty_continuation = False
            while not ended and self.pos < len(self.lines):
                raw = self._next_line()
                text = self._process(raw, strip_left=False)
                if _is_comment(raw):
                    continue
                if not _trim_newline(text).strip():
                    empty_continuation = True
                    continue
                text, ended = self._trim_continuation(text)
                parts.append(text)
            line = "".join(parts)
            if empty_continuation:
                warnings.append(ParseWarning(
                    self.pos, f"Empty continuation line found in: {line}", EMPTY_CONTINUATION_URL))
            heredocs: tuple[Heredoc, ...] = ()
            if "<<" in line and self._can_contain_heredoc(line):
                heredocs = self._read_heredocs(line, start)
            logical.append(LogicalLine(line, start, self.pos, heredocs))
        self.directives_done = True
        directives = Directives(escape=self.escape, syntax=self.seen.get("syntax"),
                                check=self.seen.get("check"))
        return Lexed(directives, tuple(logical), tuple(warnings))

    def _next_line(self) -> str:
        raw = self.lines[self.pos]
        self.pos += 1
        return raw

    def _process(self, raw: str, *, strip_left: bool) -> str:
        """Trim the line end, read a directive if still allowed, blank out comments."""
        line = _trim_newline(raw)
        if strip_left:
            line = line.lstrip()
        self._possible_directive(line)
        return "" if _is_comment(line) else line

    def _possible_directive(self, line: str) -> None:
        if self.directives_done:
            return
        if not line.startswith("#"):
            self.directives_done = True
            return
        match = _DIRECTIVE.match(line[1:].lstrip())
        key = match.group(1).lower() if match else ""
        if not match or key not in _DIRECTIVE_KEYS:
            self.directives_done = True
            return
        if key in self.seen:
            raise self.error(f"only one {key} parser directive can be used", self.pos,
                             hint="remove the repeated directive")
        value = match.group(2)
        if key == "escape":
            if value not in ("`", "\\"):
                raise self.error(f"invalid escape token '{value}' does not match ` or \\",
                                 self.pos, hint="use '# escape=`' or '# escape=\\'")
            self.escape = value
            self.continuation = self._continuation_regex(value)
        self.seen[key] = value

    def _trim_continuation(self, line: str) -> tuple[str, bool]:
        match = self.continuation.search(line)
        if match is None:
            return line, True
        return line[:match.start()] + (match.group(1) or ""), False

    def _can_contain_heredoc(self, line: str) -> bool:
        keyword, _flags, rest = split_command(line, self.escape)
        if keyword.lower() == "onbuild":
            if not rest:
                return False
            keyword, _flags, rest = split_command(rest, self.escape)
        if keyword.lower() not in _HEREDOC_KEYWORDS:
            return False
        try:
            return parse_json_array(rest) is None
        except NotStringArray:
            return False  # the parser reports it

    def _read_heredocs(self, line: str, start: int) -> tuple[Heredoc, ...]:
        try:
            opened = heredocs_in_line(line)
        except ExpansionError as err:
            raise self.error(err.message, start) from None
        docs: list[Heredoc] = []
        for doc in opened:
            body: list[str] = []
            while True:
                if self.pos >= len(self.lines):
                    raise self.error("unterminated heredoc", start,
                                     hint=f"end the here-document with a line holding only {doc.name}")
                raw = self._next_line()
                candidate = _trim_newline(raw)
                if doc.chomp:
                    candidate = candidate.lstrip("\t")
                if candidate == doc.name:
                    break
                body.append(_trim_newline(raw) + "\n" if raw.endswith("\n") else raw)
            docs.append(Heredoc(name=doc.name, content="".join(body), expand=doc.expand,
                                chomp=doc.chomp, fd=doc.fd))
        return tuple(docs)
