"""Dockerfile word expansion: quotes, escapes and ``$VAR``/``${VAR...}`` against a scope.

The rules are those of BuildKit's ``frontend/dockerfile/shell`` lexer (the reference the
Dockerfile documentation's "Environment replacement" section describes):

* ``$NAME`` and ``${NAME}``; a ``$`` not followed by a name stays literal; positional
  (``$1``) and special (``$@ $* $# $? $- $$ $! $0``) parameters are looked up like names
  and are normally unset, so they expand to nothing.
* ``${V:-w}`` / ``${V-w}`` (default), ``${V:+w}`` / ``${V+w}`` (alternative),
  ``${V:?msg}`` / ``${V?msg}`` (error), with the colon forms treating an empty value as
  unset; ``w`` is itself expanded, so defaults nest.  Also ``${V#p}``, ``${V##p}``,
  ``${V%p}``, ``${V%%p}`` (trim) and ``${V/p/r}``, ``${V//p/r}`` (replace).
* Single quotes keep everything literal; double quotes expand ``$`` and let the escape
  character quote only ``"``, ``$`` and itself; outside quotes the escape character
  quotes any character and is dropped.  The escape character is ``\\`` unless the
  Dockerfile says ``# escape=`` with a backtick.
* Splitting into words (``expand_words``) happens after expansion, on whitespace that
  came from the text itself or from an unquoted variable; quoted text never splits.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sbx.errors import ExpansionError

_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_REGEX_SPECIAL = frozenset("[]{}.+()|^$")


def expand_word(word: str, env: Mapping[str, str], *, escape: str = "\\") -> str:
    """Expand one word, keeping its inner whitespace (Docker's ``ProcessWord``)."""
    return ShellLexer(escape).process_word(word, env)


def expand_words(text: str, env: Mapping[str, str], *, escape: str = "\\") -> list[str]:
    """Expand ``text`` and split it into words (Docker's ``ProcessWords``)."""
    return ShellLexer(escape).process_words(text, env)


@dataclass(frozen=True)
class ShellLexer:
    """A configured lexer; the flags mirror BuildKit's ``shell.Lex`` switches.

    ``raw_quotes`` keeps quote characters in the output, ``raw_escapes`` keeps escape
    characters, ``skip_unset`` leaves references to unset variables as written, and
    ``skip_quotes`` treats quotes as ordinary characters (used for heredoc bodies).
    """

    escape: str = "\\"
    raw_quotes: bool = False
    raw_escapes: bool = False
    skip_unset: bool = False
    skip_quotes: bool = False

    def process_word(self, word: str, env: Mapping[str, str]) -> str:
        return _Scan(self, word, env).run()[0]

    def process_words(self, word: str, env: Mapping[str, str]) -> list[str]:
        return _Scan(self, word, env).run()[1]


class _Words:
    """Accumulates words the way BuildKit's ``wordsStruct`` does."""

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf.clear()
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        if text:
            self.buf.append(text)
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def result(self) -> list[str]:
        if self.buf:
            self.words.append("".join(self.buf))
            self.buf.clear()
            self.in_word = False
        return self.words


class _Scan:
    """One pass over a word; recursive for ``${...}`` operands."""

    def __init__(self, lexer: ShellLexer, source: str, env: Mapping[str, str]) -> None:
        self.lx = lexer
        self.src = source
        self.pos = 0
        self.env = env
        self.raw_escapes = lexer.raw_escapes

    def run(self) -> tuple[str, list[str]]:
        try:
            return self._until(None, self.lx.raw_escapes)
        except ExpansionError as err:
            raise ExpansionError(f"failed to process {_go_quote(self.src)}: {err.message}") from None

    # -- scanner -------------------------------------------------------------------
    def peek(self) -> str:
        return self.src[self.pos] if self.pos < len(self.src) else ""

    def next(self) -> str:
        if self.pos >= len(self.src):
            return ""
        ch = self.src[self.pos]
        self.pos += 1
        return ch

    # -- grammar -------------------------------------------------------------------
    def _until(self, stop: str | None, raw_escapes: bool) -> tuple[str, list[str]]:
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._until_inner(stop)
        finally:
            self.raw_escapes = saved

    def _until_inner(self, stop: str | None) -> tuple[str, list[str]]:
        out: list[str] = []
        words = _Words()
        quotes = not self.lx.skip_quotes
        while self.peek():
            ch = self.peek()
            if stop is not None and ch == stop:
                self.next()
                return "".join(out), words.result()
            if ch == "$":
                text = self._dollar()
                out.append(text)
                words.add_string(text)
            elif ch == "<":
                text = self._possible_heredoc()
                out.append(text)
                words.add_raw(text)
            elif quotes and ch == "'":
                text = self._single_quote()
                out.append(text)
                words.add_raw(text)
            elif quotes and ch == '"':
                text = self._double_quote()
                out.append(text)
                words.add_raw(text)
            else:
                ch = self.next()
                if ch == self.lx.escape:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        out.append(ch)
                    ch = self.next()
                    if not ch:
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                out.append(ch)
        if stop is not None:
            raise ExpansionError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.result()

    def _open_quote(self) -> list[str]:
        quote = self.next()
        return [quote] if self.lx.raw_quotes else []

    def _single_quote(self) -> str:
        out = self._open_quote()
        while True:
            ch = self.next()
            if not ch:
                raise ExpansionError(
                    "unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lx.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def _double_quote(self) -> str:
        out = self._open_quote()
        while True:
            ch = self.peek()
            if not ch:
                raise ExpansionError(
                    "unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                if self.lx.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self._dollar())
                continue
            ch = self.next()
            if ch == self.lx.escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self.peek()
                if not following:
                    continue
                if following in ('"', "$", self.lx.escape):
                    ch = self.next()
            out.append(ch)

    def _possible_heredoc(self) -> str:
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        space = []
        while self.peek() and self.peek() in "\t\r ":
            space.append(self.next())
        return "<<" + "".join(space)

    def _name(self) -> str:
        name: list[str] = []
        while self.peek():
            ch = self.peek()
            if not name and ch.isdecimal():
                while self.peek() and self.peek().isdecimal():
                    name.append(self.next())
                return "".join(name)
            if not name and ch in _SPECIAL_PARAMS:
                return self.next()
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            name.append(self.next())
        return "".join(name)

    def _lookup(self, name: str) -> str | None:
        return self.env.get(name)

    def _dollar(self) -> str:
        self.next()  # the "$"
        if self.peek() != "{":
            name = self._name()
            if not name:
                return "$"
            value = self._lookup(name)
            if value is None:
                return "$" + name if self.lx.skip_unset else ""
            return value
        self.next()  # the "{"
        first = self.peek()
        if not first:
            raise ExpansionError("syntax error: missing '}'")
        if first in "{}:":
            raise ExpansionError("syntax error: bad substitution")
        name = self._name()
        ch = self.next()
        if not ch:
            raise ExpansionError("syntax error: missing '}'")
        if ch == "}":
            value = self._lookup(name)
            if value is None:
                return "${" + name + "}" if self.lx.skip_unset else ""
            return value
        if ch == "/":
            return self._replace(name)
        modifier = ch
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch
        elif ch not in ("+", "-", "?", "#", "%"):
            raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")
        if null_is_unset and ch in ("#", "%"):
            raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")
        word = self._operand("}", raw_escapes=ch in ("#", "%"))
        value = self._lookup(name)
        if value is None and self.lx.skip_unset:
            return "${" + name + modifier + word + "}"
        unset = value is None or (null_is_unset and value == "")
        if ch == "-":
            return word if unset else (value or "")
        if ch == "+":
            return "" if unset else word
        if ch == "?":
            if value is None:
                raise ExpansionError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise ExpansionError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("#", "%"):
            greedy = word.startswith(ch)
            if greedy:
                word = word[1:]
            value = value or ""
            if ch == "%":
                return _trim_suffix(word, value, greedy)
            return _trim_prefix(word, value, greedy)
        raise ExpansionError(f"unsupported modifier ({modifier}) in substitution")

    def _operand(self, stop: str, *, raw_escapes: bool) -> str:
        try:
            return self._until(stop, raw_escapes)[0]
        except ExpansionError:
            if not self.peek():
                raise ExpansionError("syntax error: missing '}'") from None
            raise

    def _replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern = self._until("/", True)[0]
        except ExpansionError:
            if not self.peek():
                raise ExpansionError("syntax error: missing '/' in ${}") from None
            raise
        replacement = self._operand("}", raw_escapes=True)
        value = self._lookup(name)
        if value is None and self.lx.skip_unset:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _shell_pattern(pattern, greedy=True, anchored=False)
        value = value or ""
        if replace_all:
            return regex.sub(lambda _m: replacement, value)
        return regex.sub(lambda _m: replacement, value, count=1)


def _shell_pattern(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """Translate a ``${V#pattern}`` glob (``*``, ``?``, ``\\`` escapes) into a regex."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            following = pattern[i] if i < len(pattern) else ""
            if following in ("}", "/"):
                continue
            i += 1
            if following not in ("*", "?", "\\"):
                raise ExpansionError(
                    f"invalid pattern ({pattern}) in substitution: invalid escape '\\{following}'")
            out.append(re.escape(following))
        else:
            out.append(re.escape(ch) if ch in _REGEX_SPECIAL else ch)
    return re.compile("".join(out))  # like Go's regexp: "." does not match a newline


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _shell_pattern(pattern, greedy=greedy, anchored=True).search(value)
    return value[match.end():] if match else value


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern without reversing its escapes (``a\\*c`` -> ``c\\*a``)."""
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            tokens.append(pattern[i:i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _go_quote(text: str) -> str:
    """Quote like Go's ``%q`` for the ASCII cases that appear in Dockerfiles."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
