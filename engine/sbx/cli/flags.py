"""A declarative option parser that follows docker's (cobra/pflag) rules and error wording.

Rules, as in spf13/pflag: ``--name=value`` and ``--name value`` (the next word is taken
even when it starts with "-"); short flags combine (``-dit``), take their value glued
(``-p8080:80``), after "=" (``-e=A=1`` gives "A=1") or from the next word; boolean flags
never take the next word but accept ``--rm=false``/``-d=true``; ``--`` ends the options;
a lone "-" is a positional argument.  Without ``interspersed`` (run, create, exec) options
stop at the first positional argument so that ``sbx run bb ls -l`` passes ``-l`` to ls.
This module imports nothing heavy so that the CLI starts fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sbx.errors import InvalidArgument

TYPE_CHECKING = False  # typing.TYPE_CHECKING would import typing (~3 ms at CLI start)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Flag", "CommandSpec", "Parsed", "parse", "help_text", "HELP_FLAG"]

_KINDS = ("str", "bool", "int", "float", "bytes", "duration")


@dataclass(frozen=True)
class Flag:
    """One option: its spellings, where its value goes, its type and its help line.

    ``kind`` is str, bool, int, float, bytes (a size such as "512m", parsed to an int)
    or duration (a Go duration such as "10s", parsed to float seconds); ``convert``, when
    given, replaces the kind's conversion and may raise InvalidArgument or ValueError.
    ``multiple`` collects every occurrence into a list (docker's "list" options).
    """

    names: tuple[str, ...]
    dest: str
    kind: str = "str"
    multiple: bool = False
    default: Any = None
    help: str = ""
    metavar: str | None = None
    convert: Callable[[str], Any] | None = None
    hidden: bool = False

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"flag {self.names}: unknown kind {self.kind!r}")
        for n in self.names:
            if not (n.startswith("--") and len(n) > 3) and not (len(n) == 2 and n[0] == "-"):
                raise ValueError(f"flag {self.names}: bad spelling {n!r}")

    @property
    def long(self) -> str | None:
        return next((n for n in self.names if n.startswith("--")), None)

    @property
    def short(self) -> str | None:
        return next((n for n in self.names if not n.startswith("--")), None)

    @property
    def display(self) -> str:
        """How pflag names the flag in errors: "-m, --memory" or "--memory"."""
        parts = [n for n in (self.short, self.long) if n]
        return ", ".join(parts)

    @property
    def type_name(self) -> str:
        if self.metavar:
            return self.metavar
        if self.multiple:
            return "list"
        return {"str": "string", "float": "decimal"}.get(self.kind, self.kind)

    @property
    def is_bool(self) -> bool:
        return self.kind == "bool"

    def initial(self) -> Any:
        if self.multiple:
            return list(self.default) if self.default else []
        if self.is_bool and self.default is None:
            return False
        return self.default


HELP_FLAG = Flag(("-h", "--help"), "help", "bool", help="Print usage", hidden=True)


@dataclass(frozen=True)
class CommandSpec:
    """What a command accepts: its flags, its usage line and how many positional args."""

    name: str
    usage: str
    summary: str = ""
    flags: tuple[Flag, ...] = ()
    min_args: int = 0
    max_args: int | None = None
    interspersed: bool = False

    def lookup(self) -> tuple[dict[str, Flag], dict[str, Flag]]:
        longs: dict[str, Flag] = {}
        shorts: dict[str, Flag] = {}
        for f in (*self.flags, HELP_FLAG):
            for n in f.names:
                table = longs if n.startswith("--") else shorts
                key = n.lstrip("-")
                if key in table and table[key] is not f and f is not HELP_FLAG:
                    raise ValueError(f"command {self.name}: flag {n} defined twice")
                table.setdefault(key, f)
        return longs, shorts

    @property
    def hint(self) -> str:
        return f"See '{self.name} --help'."


@dataclass(frozen=True)
class Parsed:
    """The result of :func:`parse`: option values by ``dest`` and the positional args."""

    opts: dict[str, Any]
    args: list[str]
    help: bool = False
    given: frozenset[str] = field(default_factory=frozenset)
    """The ``dest`` of every flag that appeared on the command line."""

    def __getitem__(self, dest: str) -> Any:
        return self.opts[dest]


def _parse_bool(text: str) -> bool:
    if text in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if text in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise ValueError(f'strconv.ParseBool: parsing "{text}": invalid syntax')


def _parse_int(text: str) -> int:
    body = text[1:] if text[:1] in "+-" else text
    if not body or not body.replace("_", "").isdigit() or not body.isascii():
        raise ValueError(f'strconv.ParseInt: parsing "{text}": invalid syntax')
    return int(text, 10)


def _parse_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax') from None


def _convert(spec: CommandSpec, flag: Flag, text: str) -> Any:
    try:
        if flag.convert is not None:
            return flag.convert(text)
        kind = flag.kind
        if kind == "str":
            return text
        if kind == "bool":
            return _parse_bool(text)
        if kind == "int":
            return _parse_int(text)
        if kind == "float":
            return _parse_float(text)
        if kind == "bytes":
            from sbx.units import parse_bytes

            return parse_bytes(text)
        from sbx.units import parse_duration

        return parse_duration(text)
    except (InvalidArgument, ValueError) as exc:
        reason = exc.message if isinstance(exc, InvalidArgument) else str(exc)
        raise InvalidArgument(f'invalid argument "{text}" for "{flag.display}" flag: {reason}',
                              hint=spec.hint) from None


def parse(spec: CommandSpec, argv: Sequence[str]) -> Parsed:
    """Parse ``argv`` (the words after the command name) against ``spec``.

    Raises InvalidArgument with docker's wording and the hint "See 'sbx run --help'.".
    When -h/--help is given the arity is not checked and ``Parsed.help`` is true.
    """
    longs, shorts = spec.lookup()
    opts: dict[str, Any] = {f.dest: f.initial() for f in spec.flags}
    given: set[str] = set()
    args: list[str] = []
    want_help = False

    def store(flag: Flag, text: str) -> None:
        nonlocal want_help
        value = _convert(spec, flag, text)
        if flag is HELP_FLAG:
            want_help = want_help or bool(value)
            return
        given.add(flag.dest)
        if flag.multiple:
            opts[flag.dest].append(value)
        else:
            opts[flag.dest] = value

    def fail(message: str) -> InvalidArgument:
        return InvalidArgument(message, hint=spec.hint)

    i = 0
    n = len(argv)
    while i < n:
        word = argv[i]
        i += 1
        if len(word) < 2 or word[0] != "-":
            args.append(word)
            if not spec.interspersed:
                args.extend(argv[i:])
                break
            continue
        if word == "--":
            args.extend(argv[i:])
            break
        if word.startswith("--"):
            body = word[2:]
            if not body or body[0] in "-=":
                raise fail(f"bad flag syntax: {word}")
            name, eq, value = body.partition("=")
            flag = longs.get(name)
            if flag is None:
                raise fail(f"unknown flag: --{name}")
            if eq:
                store(flag, value)
            elif flag.is_bool:
                store(flag, "true")
            elif i < n:
                store(flag, argv[i])
                i += 1
            else:
                raise fail(f"flag needs an argument: --{name}")
            continue
        shorthands = word[1:]
        while shorthands:
            c = shorthands[0]
            flag = shorts.get(c)
            if flag is None:
                raise fail(f"unknown shorthand flag: '{c}' in -{shorthands}")
            if len(shorthands) > 2 and shorthands[1] == "=":
                store(flag, shorthands[2:])
                shorthands = ""
            elif flag.is_bool:
                store(flag, "true")
                shorthands = shorthands[1:]
            elif len(shorthands) > 1:
                store(flag, shorthands[1:])
                shorthands = ""
            elif i < n:
                store(flag, argv[i])
                i += 1
                shorthands = ""
            else:
                raise fail(f"flag needs an argument: '{c}' in -{shorthands}")

    if not want_help:
        _check_arity(spec, args)
    return Parsed(opts=opts, args=args, help=want_help, given=frozenset(given))


def _plural(count: int) -> str:
    return "argument" if count == 1 else "arguments"


def _check_arity(spec: CommandSpec, args: list[str]) -> None:
    lo, hi, got = spec.min_args, spec.max_args, len(args)
    if lo <= got and (hi is None or got <= hi):
        return
    if hi == 0:
        message = f'"{spec.name}" accepts no arguments.'
    elif hi is not None and lo == hi:
        message = f'"{spec.name}" requires exactly {lo} {_plural(lo)}.'
    elif hi is not None and lo > 0:
        message = f'"{spec.name}" requires at least {lo} and at most {hi} {_plural(hi)}.'
    elif got < lo:
        message = f'"{spec.name}" requires at least {lo} {_plural(lo)}.'
    else:
        assert hi is not None
        message = f'"{spec.name}" requires at most {hi} {_plural(hi)}.'
    hint = f"{spec.hint}\n\nUsage:  {spec.usage}\n\n{spec.summary}".rstrip()
    raise InvalidArgument(message, hint=hint)


def _flag_line(flag: Flag) -> tuple[str, str]:
    short, long = flag.short, flag.long
    if short and long:
        left = f"  {short}, {long}"
    elif long:
        left = f"      {long}"
    else:
        left = f"  {short}"
    if not flag.is_bool:
        left += f" {flag.type_name}"
    text = flag.help
    default = flag.default
    if default not in (None, "", 0, False, [], ()) and not flag.multiple:
        if flag.kind == "str":
            shown = f'"{default}"'
        elif isinstance(default, bool):
            shown = str(default).lower()
        elif flag.kind == "duration":
            from sbx.units import format_duration

            shown = format_duration(float(default))
        else:
            shown = str(default)
        text += f" (default {shown})"
    return left, text


def help_text(spec: CommandSpec) -> str:
    """The ``--help`` page, laid out like docker's: usage, summary, then aligned options."""
    out = [f"\nUsage:  {spec.usage}\n"]
    if spec.summary:
        out.append(f"\n{spec.summary}\n")
    visible = sorted((f for f in spec.flags if not f.hidden),
                     key=lambda f: (f.long or f.short or "").lstrip("-"))
    if visible:
        lines = [_flag_line(f) for f in visible]
        col = max(len(left) for left, _ in lines)
        out.append("\nOptions:\n")
        for left, text in lines:
            pad = " " * (col - len(left))
            body = text.replace("\n", "\n" + " " * (col + 3))
            out.append(f"{left}{pad}   {body}".rstrip() + "\n")
    return "".join(out)
