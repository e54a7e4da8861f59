"""``.dockerignore`` rules: which files of a build context are sent to the builder.

Semantics of Docker's ``moby/patternmatcher`` and its ``ignorefile`` reader:

* One pattern per line.  A line starting with ``#`` is a comment; blank lines are
  skipped; surrounding whitespace is dropped.  Patterns are cleaned like Go's
  ``filepath.Clean`` and a leading ``/`` is removed, so ``/a``, ``./a`` and ``a/`` all
  mean ``a``, relative to the context root.
* ``*`` matches any run of characters but ``/``, ``?`` one such character, ``[...]`` a
  character class, ``\\`` escapes the next character, and ``**`` any number of
  directories (also none): ``**/*.go`` matches ``a.go`` and ``x/y/a.go``.
* A pattern also matches everything under a directory it matches.
* ``!pattern`` re-includes; the last matching line wins.
* A directory that is excluded is not walked, unless some ``!`` pattern could match a
  path inside it; then it is walked and only the re-included entries are sent.
* The Dockerfile and ``.dockerignore`` are always sent, even when a pattern excludes
  them (the Docker CLI adds ``!Dockerfile`` and ``!.dockerignore`` in that case).
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from sbx.errors import BuildError, DockerfileError

_REGEX_ESCAPE = frozenset(".+()|{}$")


def _clean(path: str) -> str:
    """Go's ``filepath.Clean`` for slash-separated paths."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


@dataclass(frozen=True)
class Pattern:
    """One cleaned pattern; ``exception`` for a ``!`` line (it re-includes)."""

    text: str
    exception: bool = False
    _kind: str = field(default="exact", repr=False, compare=False)
    _regex: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def compile(cls, text: str, exception: bool = False) -> Pattern:
        """Compile a cleaned pattern (Docker's ``Pattern.compile``); raises ``re.error``."""
        kind, regex = _translate(text)
        return cls(text, exception, kind, re.compile(regex) if kind == "regexp" else None)

    def match(self, path: str) -> bool:
        """Does the pattern match this exact (cleaned, slash-separated) path?"""
        if self._kind == "exact":
            return path == self.text
        if self._kind == "prefix":
            return path.startswith(self.text[:-2])
        if self._kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self._regex is not None
        return self._regex.match(path) is not None

    def match_or_parent(self, path: str) -> bool:
        """Match the path or any of its parent directories."""
        if self.match(path):
            return True
        parts = path.split("/")
        return any(self.match("/".join(parts[:i])) for i in range(1, len(parts)))

    def may_match_under(self, directory: str) -> bool:
        """Could this pattern match ``directory`` or some path below it?

        Errs on the side of True, so that a walk never prunes a directory holding a
        path the pattern would re-include.
        """
        parts = self.text.split("/")
        for i, name in enumerate(directory.split("/")):
            if i >= len(parts):
                return True
            if "**" in parts[i]:
                return True
            kind, regex = _translate(parts[i])
            component = Pattern(parts[i], False, kind, re.compile(regex) if kind == "regexp" else None)
            if not component.match(name):
                return False
        return True


def _translate(pattern: str) -> tuple[str, str]:
    """Pattern text to ``(kind, regex)``; kind is exact, prefix, suffix or regexp."""
    out = ["^"]
    kind = "exact"
    i = 0
    n = len(pattern)
    first = True
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                if i >= n:
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out.append(".*")
                        kind = "regexp"
                else:
                    out.append("(.*/)?")
                    kind = "regexp"
                if first:
                    kind = "suffix"
            else:
                out.append("[^/]*")
                kind = "regexp"
        elif ch == "?":
            out.append("[^/]")
            kind = "regexp"
        elif ch in _REGEX_ESCAPE:
            out.append("\\" + ch)
        elif ch == "\\":
            if i < n:
                out.append(re.escape(pattern[i]))
                i += 1
                kind = "regexp"
            else:
                out.append("\\\\")
        elif ch in "[]":
            out.append(ch)
            kind = "regexp"
        else:
            out.append(ch)
        first = False
    out.append(r"\Z")
    return kind, "".join(out)


@dataclass(frozen=True)
class IgnoreRules:
    """The patterns of a ``.dockerignore`` file, in order."""

    patterns: tuple[Pattern, ...] = ()

    @classmethod
    def parse(cls, text: str, *, path: str = ".dockerignore") -> IgnoreRules:
        """Read ``.dockerignore`` text; raises ``DockerfileError`` for a bad pattern."""
        patterns: list[Pattern] = []
        for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
            if line.startswith("#"):
                continue
            entry = line.strip()
            if not entry:
                continue
            exception = entry.startswith("!")
            if exception:
                entry = entry[1:].strip()
                if not entry:
                    raise DockerfileError('illegal exclusion pattern: "!"', path=path,
                                          line=number, hint="write !PATTERN")
            entry = _clean(entry)
            if len(entry) > 1 and entry.startswith("/"):
                entry = entry[1:]
            try:
                patterns.append(Pattern.compile(entry, exception))
            except re.error as err:
                raise DockerfileError(f"syntax error in pattern {entry!r}: {err}", path=path,
                                      line=number, hint="check the [...] classes") from None
        return cls(tuple(patterns))

    @classmethod
    def load(cls, context: Path) -> IgnoreRules:
        """The rules of ``context/.dockerignore``, or none if there is no such file.

        A symlink is resolved inside the context (as BuildKit does): one pointing out of
        it finds nothing, so no line of an outside file can show up in a pattern error."""
        from sbx.linux.inroot import read_in_root

        try:
            text = read_in_root(context, ".dockerignore").decode("utf-8")
        except FileNotFoundError:
            return cls()
        except (OSError, UnicodeDecodeError) as err:
            raise BuildError(f"cannot read {context / '.dockerignore'}: {err}") from None
        return cls.parse(text, path=str(context / ".dockerignore"))

    @property
    def has_exceptions(self) -> bool:
        return any(p.exception for p in self.patterns)

    def matches(self, relpath: str, is_dir: bool = False) -> bool:
        """Is ``relpath`` (relative to the context, ``/``-separated) excluded?

        ``is_dir`` is accepted for the callers' convenience; Docker's patterns match
        files and directories alike.  The context root itself is never excluded.
        """
        path = _clean(relpath.replace(os.sep, "/")).lstrip("/") or "."
        if path == ".":
            return False
        matched = False
        for pattern in self.patterns:
            if pattern.exception != matched:
                continue
            if pattern.match_or_parent(path):
                matched = not pattern.exception
        return matched

    def may_reinclude_under(self, directory: str) -> bool:
        """Could an exception pattern bring back something inside this directory?"""
        return any(p.exception and p.may_match_under(directory) for p in self.patterns)

    def keeping(self, *paths: str) -> IgnoreRules:
        """These rules plus ``!path`` for each path they exclude (Docker's treatment
        of the Dockerfile and ``.dockerignore``)."""
        extra = [Pattern.compile(_clean(p), True) for p in paths if self.matches(p)]
        return IgnoreRules((*self.patterns, *extra)) if extra else self


def walk_context(root: Path, rules: IgnoreRules, *,
                 dockerfile: str = "Dockerfile") -> Iterator[str]:
    """Yield the context's included paths, relative and ``/``-separated, parents first.

    Directories are yielded when they are included; an excluded directory is skipped
    entirely unless an exception may re-include something inside it, in which case it
    is walked and only the re-included entries inside come out.  Symbolic links are
    yielded, never followed.  ``dockerfile`` (relative to ``root``) and
    ``.dockerignore`` are always included.
    """
    rules = rules.keeping(".dockerignore", dockerfile)
    yield from _walk(root, "", rules)


def _walk(directory: Path, prefix: str, rules: IgnoreRules) -> Iterator[str]:
    try:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda e: e.name)
    except OSError as err:
        raise BuildError(f"cannot read the build context at {directory}: {err.strerror}",
                         hint="check permissions, or exclude it in .dockerignore") from None
    for entry in entries:
        rel = f"{prefix}{entry.name}"
        excluded = rules.matches(rel)
        if entry.is_dir(follow_symlinks=False):
            if excluded and not rules.may_reinclude_under(rel):
                continue
            if not excluded:
                yield rel
            yield from _walk(Path(entry.path), rel + "/", rules)
        elif not excluded:
            yield rel
