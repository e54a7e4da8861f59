"""One logical line to one typed ``Instruction``, through a table of per-keyword parsers.

Argument shapes follow BuildKit's ``parser/line_parsers.go`` and checks and messages its
``instructions/parse.go``: RUN, CMD, ENTRYPOINT and SHELL take a JSON array (exec form)
or the rest of the line (shell form; text that is not a valid JSON array falls back to
it); COPY, ADD and VOLUME a JSON array or whitespace-separated words; ENV and LABEL
``key=value`` words (or the legacy ``ENV key value``); keywords are case-insensitive.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypedDict

from sbx.build.dockerfile import instructions as ins
from sbx.build.dockerfile.expand import ShellLexer
from sbx.build.dockerfile.flags import FlagError, FlagKind, FlagValues, parse_duration, parse_flags
from sbx.build.dockerfile.heredoc import Heredoc
from sbx.build.dockerfile.lexer import LogicalLine
from sbx.build.dockerfile.mounts import Mount
from sbx.build.dockerfile.suggest import closest
from sbx.build.dockerfile.words import (
    WHITESPACE,
    NotStringArray,
    parse_json_array,
    split_command,
    split_quoted_words,
    split_whitespace,
)
from sbx.errors import DockerfileError, ExpansionError

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9\-_.]*\Z")
_ONBUILD_PREFIX = re.compile(r"^\s*ONBUILD\s*", re.IGNORECASE)
_NETWORK_MODES = ("default", "none", "host")
_SECURITY_MODES = ("sandbox", "insecure")
_HEALTH_DURATIONS = ("interval", "timeout", "start-period", "start-interval")


class _Position(TypedDict):
    line: int
    end_line: int
    original: str


@dataclass(frozen=True)
class _Request:
    """An instruction being parsed: its split text and where it is."""

    keyword: str
    flag_words: tuple[str, ...]
    rest: str
    source: LogicalLine
    original: str
    escape: str
    path: str

    def error(self, message: str, hint: str | None = None) -> DockerfileError:
        return DockerfileError(message, path=self.path, line=self.source.line, hint=hint)

    def flags(self, specs: Mapping[str, FlagKind]) -> FlagValues:
        try:
            return parse_flags(self.flag_words, specs)
        except FlagError as err:
            raise self.error(err.message, err.hint) from None

    def position(self) -> _Position:
        return _Position(line=self.source.line, end_line=self.source.end_line,
                         original=self.original)

    def json_or(self, fallback: Callable[[str], list[str]]) -> tuple[list[str], bool]:
        """``(args, is_json)``: the JSON array, or ``fallback(rest)`` when not JSON."""
        try:
            array = parse_json_array(self.rest)
        except NotStringArray as err:
            raise self.error(str(err), "quote every element of the JSON array") from None
        if array is not None:
            return array, True
        return fallback(self.rest), False

    def command_line(self) -> ins.CommandLine:
        args, is_json = self.json_or(lambda rest: [rest] if rest else [])
        return ins.CommandLine(tuple(args), is_json)

    def string_arg(self) -> list[str]:
        return [self.rest] if self.rest else []


def parse_instruction(source: LogicalLine, *, escape: str = "\\",
                      path: str = "Dockerfile") -> ins.Instruction:
    """Parse one logical line; raises ``DockerfileError`` naming ``path`` and the line."""
    keyword, flag_words, rest = split_command(source.text, escape)
    request = _Request(keyword, flag_words, rest, source, source.text.strip(), escape, path)
    return _dispatch(request)


def _dispatch(req: _Request) -> ins.Instruction:
    parse = _PARSERS.get(req.keyword.lower())
    if parse is None:
        suggestion = closest(req.keyword, [k.upper() for k in _PARSERS], case_sensitive=False)
        raise req.error(f"unknown instruction: {req.keyword}",
                        f"did you mean {suggestion}?" if suggestion else None)
    return parse(req)


def _no_flags(req: _Request) -> None:
    req.flags({})


def _from(req: _Request) -> ins.From:
    args = split_whitespace(req.rest)
    if not args:
        raise req.error("FROM requires at least one argument", "FROM IMAGE [AS NAME]")
    name = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise req.error(f"invalid name for build stage: \"{args[2]}\", name can't start "
                            "with a number or contain symbols",
                            "use lower-case letters, digits, '-', '_' and '.'")
    elif len(args) != 1:
        raise req.error("FROM requires either one or three arguments", "FROM IMAGE [AS NAME]")
    flags = req.flags({"platform": FlagKind.STRING})
    return ins.From(base=args[0], name=name, platform=flags.string("platform"),
                    **req.position())


def _run(req: _Request) -> ins.Run:
    flags = req.flags({"mount": FlagKind.STRINGS, "network": FlagKind.STRING,
                       "security": FlagKind.STRING})
    network = flags.string("network")
    if network is not None and network not in _NETWORK_MODES:
        raise req.error(f'invalid network mode "{network}"', "use default, none or host")
    security = flags.string("security")
    if security is not None and security not in _SECURITY_MODES:
        raise req.error(f'security "{security}" is not valid', "use sandbox or insecure")
    mounts = []
    for spec in flags.strings("mount"):
        try:
            mounts.append(Mount.parse(spec))
        except FlagError as err:
            raise req.error(err.message, err.hint) from None
    command = req.command_line()
    if not command.args and not req.source.heredocs:
        raise req.error("RUN requires at least one argument", "RUN COMMAND or RUN [\"argv\"]")
    return ins.Run(command=command, heredocs=req.source.heredocs, mounts=tuple(mounts),
                   network=network, security=security, **req.position())


def _cmd(req: _Request) -> ins.Cmd:
    _no_flags(req)
    return ins.Cmd(command=req.command_line(), **req.position())


def _entrypoint(req: _Request) -> ins.Entrypoint:
    _no_flags(req)
    return ins.Entrypoint(command=req.command_line(), **req.position())


def _shell(req: _Request) -> ins.Shell:
    _no_flags(req)
    args, is_json = req.json_or(lambda rest: [rest] if rest else [])
    if not args:
        raise req.error("SHELL requires at least one argument", 'SHELL ["/bin/sh", "-c"]')
    if not is_json:
        raise req.error(f"SHELL requires the arguments to be in JSON form: {req.original}",
                        'write it as SHELL ["executable", "parameters"]')
    return ins.Shell(argv=tuple(args), **req.position())


def _key_values(req: _Request, keyword: str) -> tuple[ins.KeyValue, ...]:
    """``parseNameVal`` + ``parseKvps``: ``k=v k2=v2`` words, or legacy ``k v w``."""
    words = split_quoted_words(req.rest, req.escape)
    if not words:
        raise req.error(f"{keyword} requires at least one argument", f"{keyword} key=value")
    pairs: list[ins.KeyValue] = []
    if "=" not in words[0]:
        parts = WHITESPACE.split(req.rest, maxsplit=1)
        if len(parts) < 2:
            raise req.error(f"{keyword} must have two arguments", f"write {keyword} {parts[0]}=VALUE")
        pairs.append(ins.KeyValue(parts[0], parts[1], legacy=True))
    else:
        for word in words:
            key, has_equals, value = word.partition("=")
            if not has_equals:
                raise req.error(f'Syntax error - can\'t find = in "{word}". Must be of the '
                                "form: name=value", f"write {word}=VALUE")
            pairs.append(ins.KeyValue(key, value))
    if any(not pair.key for pair in pairs):
        raise req.error(f"{keyword} names can not be blank")
    return tuple(pairs)


def _env(req: _Request) -> ins.Env:
    _no_flags(req)
    return ins.Env(pairs=_key_values(req, "ENV"), **req.position())


def _label(req: _Request) -> ins.Label:
    _no_flags(req)
    return ins.Label(pairs=_key_values(req, "LABEL"), **req.position())


def _arg(req: _Request) -> ins.Arg:
    words = split_quoted_words(req.rest, req.escape)
    if not words:
        raise req.error("ARG requires at least one argument", "ARG NAME[=DEFAULT]")
    _no_flags(req)
    definitions = []
    for word in words:
        key, has_equals, value = word.partition("=")
        if not key:
            raise req.error("ARG names can not be blank")
        definitions.append(ins.ArgDefinition(key, value if has_equals else None))
    return ins.Arg(args=tuple(definitions), **req.position())


def _expose(req: _Request) -> ins.Expose:
    ports = split_whitespace(req.rest)
    if not ports:
        raise req.error("EXPOSE requires at least one argument", "EXPOSE PORT[/PROTOCOL]")
    _no_flags(req)
    return ins.Expose(ports=tuple(ports), **req.position())


def _one_string(req: _Request) -> str:
    args = req.string_arg()
    if len(args) != 1:
        raise req.error(f"{req.keyword.upper()} requires exactly one argument")
    _no_flags(req)
    return args[0]


def _workdir(req: _Request) -> ins.Workdir:
    return ins.Workdir(path=_one_string(req), **req.position())


def _user(req: _Request) -> ins.User:
    return ins.User(user=_one_string(req), **req.position())


def _stopsignal(req: _Request) -> ins.StopSignal:
    return ins.StopSignal(signal=_one_string(req), **req.position())


def _maintainer(req: _Request) -> ins.Maintainer:
    return ins.Maintainer(name=_one_string(req), **req.position())


def _volume(req: _Request) -> ins.Volume:
    args, _ = req.json_or(split_whitespace)
    if not args:
        raise req.error("VOLUME requires at least one argument", "VOLUME /path")
    _no_flags(req)
    paths = tuple(arg.strip() for arg in args)
    if any(not path for path in paths):
        raise req.error("VOLUME specified can not be an empty string")
    return ins.Volume(paths=paths, **req.position())


def _sources_and_dest(req: _Request, keyword: str) -> tuple[tuple[str, ...], str, tuple[Heredoc, ...]]:
    args, _ = req.json_or(split_whitespace)
    if len(args) < 2:
        raise req.error(f"{keyword} requires at least two arguments, but only one was "
                        "provided. Destination could not be determined",
                        f"{keyword} SOURCE... DEST")
    *sources, dest = args
    if Heredoc.parse_word(dest) is not None:
        raise req.error(f"{keyword} cannot accept a heredoc as a destination")
    bodies = {doc.name: doc for doc in req.source.heredocs}
    paths: list[str] = []
    contents: list[Heredoc] = []
    for source in sources:
        opened = Heredoc.parse_word(source)
        if opened is None:
            paths.append(source)
        else:
            body = bodies.get(opened.name, opened)
            contents.append(Heredoc(name=opened.name, content=body.content,
                                    expand=opened.expand, chomp=opened.chomp, fd=opened.fd))
    return tuple(paths), dest, tuple(contents)


def _copy(req: _Request) -> ins.Copy:
    sources, dest, contents = _sources_and_dest(req, "COPY")
    flags = req.flags({"from": FlagKind.STRING, "chown": FlagKind.STRING,
                       "chmod": FlagKind.STRING, "link": FlagKind.BOOL,
                       "parents": FlagKind.BOOL, "exclude": FlagKind.STRINGS})
    source_stage = flags.string("from")
    if source_stage is not None:
        try:
            plain = ShellLexer(req.escape).process_word(source_stage, {})
        except ExpansionError:
            plain = ""
        if plain != source_stage:
            raise req.error("variable expansion is not supported for --from",
                            "define a new stage with FROM using ARG from global scope")
    return ins.Copy(sources=sources, dest=dest, contents=contents, from_=source_stage,
                    chown=flags.string("chown"), chmod=flags.string("chmod"),
                    link=bool(flags.boolean("link")), parents=bool(flags.boolean("parents")),
                    excludes=flags.strings("exclude"), **req.position())


def _add(req: _Request) -> ins.Add:
    sources, dest, contents = _sources_and_dest(req, "ADD")
    flags = req.flags({"chown": FlagKind.STRING, "chmod": FlagKind.STRING,
                       "link": FlagKind.BOOL, "keep-git-dir": FlagKind.BOOL,
                       "checksum": FlagKind.STRING, "unpack": FlagKind.BOOL,
                       "exclude": FlagKind.STRINGS})
    return ins.Add(sources=sources, dest=dest, contents=contents, chown=flags.string("chown"),
                   chmod=flags.string("chmod"), link=bool(flags.boolean("link")),
                   keep_git_dir=flags.boolean("keep-git-dir"),
                   checksum=flags.string("checksum"), unpack=flags.boolean("unpack"),
                   excludes=flags.strings("exclude"), **req.position())


def _healthcheck(req: _Request) -> ins.Healthcheck:
    parts = re.split(r"\s", req.rest, maxsplit=1)
    kind, command_text = parts[0], (parts[1].lstrip() if len(parts) > 1 else "")
    if not kind:
        raise req.error("HEALTHCHECK requires at least one argument",
                        "HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE")
    if kind.upper() == "NONE":
        if command_text:
            raise req.error("HEALTHCHECK NONE takes no arguments")
        return ins.Healthcheck(test=("NONE",), **req.position())
    specs = {name: FlagKind.STRING for name in (*_HEALTH_DURATIONS, "retries")}
    flags = req.flags(specs)
    if kind.upper() != "CMD":
        raise req.error(f'Unknown type "{kind.upper()}" in HEALTHCHECK (try CMD)')
    sub = _Request(req.keyword, (), command_text, req.source, req.original, req.escape, req.path)
    command = sub.command_line()
    if not command.args:
        raise req.error("Missing command after HEALTHCHECK CMD")
    test = ("CMD", *command.args) if command.exec_form else ("CMD-SHELL", *command.args)
    durations: dict[str, int] = {}
    for name in _HEALTH_DURATIONS:
        text = flags.string(name) or ""
        try:
            value = parse_duration(text) if text else 0
        except FlagError as err:
            raise req.error(err.message, "write a duration such as 30s, 1m30s or 500ms") from None
        if value != 0 and value < 1_000_000:
            raise req.error(f'Interval "{name}" cannot be less than 1ms')
        durations[name.replace("-", "_")] = value
    retries = 0
    retries_text = flags.string("retries")
    if retries_text:
        try:
            retries = int(retries_text, 10)
        except ValueError:
            raise req.error(f'invalid value for --retries: "{retries_text}"',
                            "give a whole number") from None
        if retries < 0:
            raise req.error(f"--retries cannot be negative ({retries})")
    return ins.Healthcheck(test=test, retries=retries, interval=durations["interval"],
                           timeout=durations["timeout"], start_period=durations["start_period"],
                           start_interval=durations["start_interval"], **req.position())


def _onbuild(req: _Request) -> ins.Onbuild:
    if not req.rest:
        raise req.error("ONBUILD requires at least one argument", "ONBUILD INSTRUCTION ...")
    _no_flags(req)
    keyword, flag_words, rest = split_command(req.rest, req.escape)
    trigger_name = keyword.upper()
    if trigger_name == "ONBUILD":
        raise req.error("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger_name in ("MAINTAINER", "FROM"):
        raise req.error(f"{trigger_name} isn't allowed as an ONBUILD trigger")
    trigger = _dispatch(_Request(keyword, flag_words, rest, req.source, req.rest.strip(),
                                 req.escape, req.path))
    expression = _ONBUILD_PREFIX.sub("", req.original, count=1)
    for doc in req.source.heredocs:
        expression += "\n" + doc.content + doc.name
    return ins.Onbuild(trigger=trigger, expression=expression, **req.position())


_PARSERS: Mapping[str, Callable[[_Request], ins.Instruction]] = {
    "add": _add,
    "arg": _arg,
    "cmd": _cmd,
    "copy": _copy,
    "entrypoint": _entrypoint,
    "env": _env,
    "expose": _expose,
    "from": _from,
    "healthcheck": _healthcheck,
    "label": _label,
    "maintainer": _maintainer,
    "onbuild": _onbuild,
    "run": _run,
    "shell": _shell,
    "stopsignal": _stopsignal,
    "user": _user,
    "volume": _volume,
    "workdir": _workdir,
}

INSTRUCTION_NAMES = tuple(name.upper() for name in _PARSERS)
