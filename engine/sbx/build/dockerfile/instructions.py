"""Typed Dockerfile instructions: one frozen dataclass per keyword, with ``expand``.

Every instruction carries ``line`` and ``end_line`` (1-based, physical lines, heredoc
bodies included) and ``original`` (the logical line as written, comments and
continuations removed) for ``docker history`` and "Step N/M : ..." output.

Fields hold the words as written, quotes included (``ENV A="x y"`` keeps ``"x y"``).
``expand(env)`` returns a copy with Docker's word processing applied, for the
instructions whose arguments the *builder* expands: ADD, COPY, ENV, EXPOSE, FROM,
LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR, the default values of ARG and the
``--mount`` options of RUN.  RUN, CMD, ENTRYPOINT, SHELL and HEALTHCHECK are left to the
shell of the container; ONBUILD triggers are expanded when they fire in a child build.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from sbx.build.dockerfile.expand import ShellLexer
from sbx.build.dockerfile.flags import FlagError
from sbx.build.dockerfile.heredoc import Heredoc
from sbx.build.dockerfile.mounts import Mount
from sbx.errors import DockerfileError, ExpansionError

_I = TypeVar("_I", bound="Instruction")


@dataclass(frozen=True)
class _Scope:
    """Expands words of one instruction and reports failures at its line."""

    env: Mapping[str, str]
    escape: str
    path: str
    line: int

    def _fail(self, err: ExpansionError | FlagError) -> DockerfileError:
        return DockerfileError(err.message, path=self.path, line=self.line, hint=err.hint
                               or "quote a literal $ as \\$, or give the variable a value")

    def word(self, text: str) -> str:
        try:
            return ShellLexer(self.escape).process_word(text, self.env)
        except ExpansionError as err:
            raise self._fail(err) from None

    def words(self, text: str) -> list[str]:
        try:
            return ShellLexer(self.escape).process_words(text, self.env)
        except ExpansionError as err:
            raise self._fail(err) from None

    def text(self, body: str) -> str:
        """Expand a heredoc body: variables only, quotes are ordinary characters."""
        try:
            return ShellLexer("\\", skip_quotes=True).process_word(body, self.env)
        except ExpansionError as err:
            raise self._fail(err) from None

    def optional(self, text: str | None) -> str | None:
        return None if text is None else self.word(text)

    def mount(self, mount: Mount) -> Mount:
        try:
            return Mount.parse(mount.spec, self.word)
        except FlagError as err:
            raise self._fail(err) from None


@dataclass(frozen=True, kw_only=True)
class Instruction:
    """Base of every instruction; ``keyword`` is the upper-case instruction name."""

    keyword: ClassVar[str] = ""
    line: int
    end_line: int
    original: str

    def expand(self: _I, env: Mapping[str, str], *, escape: str = "\\",
               path: str = "Dockerfile") -> _I:
        """A copy with the builder's variable expansion applied (see module docstring).

        Raises ``DockerfileError`` at this instruction's line for bad syntax or an
        unset ``${VAR:?}``.
        """
        return self._expanded(_Scope(env, escape, path, self.line))

    def _expanded(self: _I, scope: _Scope) -> _I:
        return self

    def canonical(self) -> str:
        """A stable text of what the instruction does (no positions), for cache keys."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name not in ("line", "end_line", "original")}
        return json.dumps({"instruction": self.keyword, **_plain(fields)}, sort_keys=True,
                          ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, Instruction):
        return json.loads(value.canonical())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


@dataclass(frozen=True)
class KeyValue:
    """``key=value`` of ENV and LABEL; ``legacy`` for the old ``ENV key value`` form."""

    key: str
    value: str
    legacy: bool = False


@dataclass(frozen=True)
class ArgDefinition:
    """One name of an ARG instruction, with its default if it has one."""

    key: str
    default: str | None = None


@dataclass(frozen=True)
class CommandLine:
    """The command of RUN, CMD or ENTRYPOINT.

    Shell form (``exec_form=False``) has one element, the text to give to the SHELL;
    exec form (JSON) is the argv as written.
    """

    args: tuple[str, ...]
    exec_form: bool

    @property
    def shell_form(self) -> bool:
        return not self.exec_form


@dataclass(frozen=True, kw_only=True)
class From(Instruction):
    keyword: ClassVar[str] = "FROM"
    base: str
    name: str | None = None
    platform: str | None = None

    @property
    def is_scratch(self) -> bool:
        return self.base == "scratch"

    def _expanded(self, scope: _Scope) -> From:
        return dataclasses.replace(self, base=scope.word(self.base),
                                   platform=scope.optional(self.platform))


@dataclass(frozen=True, kw_only=True)
class Run(Instruction):
    """``RUN``; ``mounts``, ``network`` and ``security`` come from its flags."""

    keyword: ClassVar[str] = "RUN"
    command: CommandLine
    heredocs: tuple[Heredoc, ...] = ()
    mounts: tuple[Mount, ...] = ()
    network: str | None = None
    security: str | None = None

    def _expanded(self, scope: _Scope) -> Run:
        if not self.mounts:
            return self
        return dataclasses.replace(self, mounts=tuple(scope.mount(m) for m in self.mounts))


@dataclass(frozen=True, kw_only=True)
class Cmd(Instruction):
    keyword: ClassVar[str] = "CMD"
    command: CommandLine


@dataclass(frozen=True, kw_only=True)
class Entrypoint(Instruction):
    keyword: ClassVar[str] = "ENTRYPOINT"
    command: CommandLine


@dataclass(frozen=True, kw_only=True)
class Shell(Instruction):
    keyword: ClassVar[str] = "SHELL"
    argv: tuple[str, ...]


def _expand_pairs(pairs: tuple[KeyValue, ...], scope: _Scope) -> tuple[KeyValue, ...]:
    return tuple(KeyValue(scope.word(p.key), scope.word(p.value), p.legacy) for p in pairs)


@dataclass(frozen=True, kw_only=True)
class Env(Instruction):
    keyword: ClassVar[str] = "ENV"
    pairs: tuple[KeyValue, ...]

    def _expanded(self, scope: _Scope) -> Env:
        return dataclasses.replace(self, pairs=_expand_pairs(self.pairs, scope))


@dataclass(frozen=True, kw_only=True)
class Label(Instruction):
    keyword: ClassVar[str] = "LABEL"
    pairs: tuple[KeyValue, ...]

    def _expanded(self, scope: _Scope) -> Label:
        return dataclasses.replace(self, pairs=_expand_pairs(self.pairs, scope))


@dataclass(frozen=True, kw_only=True)
class Arg(Instruction):
    """``ARG``; Docker expands only the defaults, never the names."""

    keyword: ClassVar[str] = "ARG"
    args: tuple[ArgDefinition, ...]

    def _expanded(self, scope: _Scope) -> Arg:
        return dataclasses.replace(self, args=tuple(
            ArgDefinition(a.key, scope.optional(a.default)) for a in self.args))


@dataclass(frozen=True, kw_only=True)
class Expose(Instruction):
    """``EXPOSE``; expansion may split one word into several ports, as in Docker."""

    keyword: ClassVar[str] = "EXPOSE"
    ports: tuple[str, ...]

    def _expanded(self, scope: _Scope) -> Expose:
        return dataclasses.replace(self, ports=tuple(
            port for word in self.ports for port in scope.words(word)))


@dataclass(frozen=True, kw_only=True)
class Workdir(Instruction):
    keyword: ClassVar[str] = "WORKDIR"
    path: str

    def _expanded(self, scope: _Scope) -> Workdir:
        return dataclasses.replace(self, path=scope.word(self.path))


@dataclass(frozen=True, kw_only=True)
class User(Instruction):
    keyword: ClassVar[str] = "USER"
    user: str

    def _expanded(self, scope: _Scope) -> User:
        return dataclasses.replace(self, user=scope.word(self.user))


@dataclass(frozen=True, kw_only=True)
class Volume(Instruction):
    keyword: ClassVar[str] = "VOLUME"
    paths: tuple[str, ...]

    def _expanded(self, scope: _Scope) -> Volume:
        return dataclasses.replace(self, paths=tuple(scope.word(p) for p in self.paths))


@dataclass(frozen=True, kw_only=True)
class StopSignal(Instruction):
    keyword: ClassVar[str] = "STOPSIGNAL"
    signal: str

    def _expanded(self, scope: _Scope) -> StopSignal:
        return dataclasses.replace(self, signal=scope.word(self.signal))


def _expand_contents(contents: tuple[Heredoc, ...], scope: _Scope) -> tuple[Heredoc, ...]:
    """Heredoc sources: bodies with an unquoted delimiter get their variables expanded;
    the result is stored chomped, with ``expand`` cleared so it is not expanded twice."""
    out = []
    for doc in contents:
        if doc.expand:
            doc = dataclasses.replace(doc, content=scope.text(doc.data), chomp=False,
                                      expand=False)
        out.append(doc)
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class Copy(Instruction):
    """``COPY``: ``sources`` are paths, ``contents`` inline heredoc files."""

    keyword: ClassVar[str] = "COPY"
    sources: tuple[str, ...]
    dest: str
    contents: tuple[Heredoc, ...] = ()
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    parents: bool = False
    excludes: tuple[str, ...] = ()

    def _expanded(self, scope: _Scope) -> Copy:
        return dataclasses.replace(
            self, sources=tuple(scope.word(s) for s in self.sources),
            dest=scope.word(self.dest), chown=scope.optional(self.chown),
            chmod=scope.optional(self.chmod), contents=_expand_contents(self.contents, scope))


@dataclass(frozen=True, kw_only=True)
class Add(Instruction):
    """``ADD``: like COPY plus URLs, git sources and archive unpacking."""

    keyword: ClassVar[str] = "ADD"
    sources: tuple[str, ...]
    dest: str
    contents: tuple[Heredoc, ...] = ()
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    keep_git_dir: bool | None = None
    checksum: str | None = None
    unpack: bool | None = None
    excludes: tuple[str, ...] = ()

    def _expanded(self, scope: _Scope) -> Add:
        return dataclasses.replace(
            self, sources=tuple(scope.word(s) for s in self.sources),
            dest=scope.word(self.dest), chown=scope.optional(self.chown),
            chmod=scope.optional(self.chmod), checksum=scope.optional(self.checksum),
            contents=_expand_contents(self.contents, scope))


@dataclass(frozen=True, kw_only=True)
class Healthcheck(Instruction):
    """``HEALTHCHECK``; ``test`` is Docker's form: ``("NONE",)``, ``("CMD", argv...)``
    or ``("CMD-SHELL", text)``.  Durations are nanoseconds, 0 meaning "inherit"."""

    keyword: ClassVar[str] = "HEALTHCHECK"
    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    @property
    def disabled(self) -> bool:
        return self.test == ("NONE",)


@dataclass(frozen=True, kw_only=True)
class Onbuild(Instruction):
    """``ONBUILD``: ``trigger`` is the parsed instruction, ``expression`` the text that
    goes into the image config (heredoc bodies appended, as BuildKit does)."""

    keyword: ClassVar[str] = "ONBUILD"
    trigger: Instruction
    expression: str


@dataclass(frozen=True, kw_only=True)
class Maintainer(Instruction):
    """``MAINTAINER`` (deprecated; Docker turns it into the image's author)."""

    keyword: ClassVar[str] = "MAINTAINER"
    name: str
