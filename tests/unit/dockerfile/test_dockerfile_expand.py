"""Word expansion: Docker's shell-lexer rules, word splitting and ``Instruction.expand``."""

from __future__ import annotations

import pytest
from sbx.build.dockerfile import (
    Add,
    Arg,
    ArgDefinition,
    Cmd,
    Copy,
    Env,
    Expose,
    From,
    Heredoc,
    Instruction,
    KeyValue,
    Label,
    Onbuild,
    Run,
    StopSignal,
    User,
    Volume,
    Workdir,
    expand_word,
    expand_words,
    parse,
)
from sbx.errors import DockerfileError, ExpansionError

ENV = {"PWD": "/home", "SHELL": "bash", "EMPTY": "", "SPACE": "a  b", "FILE": "app.tar.gz",
       "PATH": "/usr/local/bin:/usr/bin:/bin", "U": "안녕"}

# (word, expected) with the environment above; cases from Docker's documentation
# ("Environment replacement") and BuildKit's shell lexer behaviour.
EXPANSIONS = [
    ("hello", "hello"),
    ("$PWD", "/home"),
    ("${PWD}", "/home"),
    ("he$PWD", "he/home"),
    ("${PWD}x", "/homex"),
    ("$PWDx", ""),  # the name runs on: $PWDx is unset
    ("$NOPE", ""),
    ("${NOPE}", ""),
    ("$1x", "x"),  # positional parameters are never set
    ("$.", "$."),
    ("$", "$"),
    ("a$", "a$"),
    ("$U$U", "안녕안녕"),
    ("\\$PWD", "$PWD"),
    ("\\${PWD}", "${PWD}"),
    ("\\\\$PWD", "\\/home"),
    ("'$PWD'", "$PWD"),
    ('"$PWD"', "/home"),
    ('"\\$PWD"', "$PWD"),
    ("\"he'$PWD'\"", "he'/home'"),
    ("'\"q\"'", '"q"'),
    ('"a\\tb"', "a\\tb"),  # in double quotes the escape only quotes " $ and itself
    ("a\\tb", "atb"),  # outside quotes it quotes anything
    ("he'll'o", "hello"),
    ("hello\\", "hello"),
    ("$SPACE", "a  b"),  # ProcessWord keeps inner whitespace
    ("${NOPE:-default}", "default"),
    ("${NOPE-default}", "default"),
    ("${EMPTY:-default}", "default"),
    ("${EMPTY-default}", ""),
    ("${PWD:-default}", "/home"),
    ("${NOPE:-$PWD}", "/home"),
    ("${NOPE:-${ALSO:-deep}}", "deep"),
    ("${NOPE:-a b}", "a b"),
    ("${NOPE:-\\$PWD}", "$PWD"),
    ("${PWD:+alt}", "alt"),
    ("${PWD+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${NOPE:+alt}", ""),
    ("${PWD:+${SHELL}}", "bash"),
    ("${PWD:?must be set}", "/home"),
    ("${EMPTY?}", ""),
    ("${FILE%.gz}", "app.tar"),
    ("${FILE%%.*}", "app"),
    ("${FILE#*.}", "tar.gz"),
    ("${FILE##*.}", "gz"),
    ("${PATH/bin/BIN}", "/usr/local/BIN:/usr/bin:/bin"),
    ("${PATH//bin/BIN}", "/usr/local/BIN:/usr/BIN:/BIN"),
    ("${aaa}}", "}"),
]


@pytest.mark.parametrize(("word", "expected"), EXPANSIONS)
def test_expand_word(word: str, expected: str) -> None:
    assert expand_word(word, ENV) == expected


@pytest.mark.parametrize(("word", "message"), [
    ("${NOPE:?must be set}", "NOPE: must be set"),
    ("${NOPE?}", "NOPE: is not allowed to be unset"),
    ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
    ("${}", "syntax error: bad substitution"),
    ("${:-x}", "syntax error: bad substitution"),
    ("${PWD", "syntax error: missing '}'"),
    ("${NOPE:-x", "syntax error: missing '}'"),
    ("${.}", "unsupported modifier (.) in substitution"),
    ("${PWD:=x}", "unsupported modifier (:=) in substitution"),
    ("${PWD:#x}", "unsupported modifier (:#) in substitution"),
    ("'open", "unexpected end of statement while looking for matching single-quote"),
    ('"open', "unexpected end of statement while looking for matching double-quote"),
])
def test_expand_word_errors(word: str, message: str) -> None:
    with pytest.raises(ExpansionError) as caught:
        expand_word(word, ENV)
    assert caught.value.message.endswith(message)
    assert caught.value.message.startswith("failed to process ")


@pytest.mark.parametrize(("escape", "word", "expected"), [
    ("`", "c:\\dir\\$PWD", "c:\\dir\\/home"),
    ("`", "`$PWD", "$PWD"),
    ("`", '"a`"b"', 'a"b'),
    ("\\", "c:\\dir", "c:dir"),
])
def test_escape_character(escape: str, word: str, expected: str) -> None:
    assert expand_word(word, ENV, escape=escape) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("a b  c", ["a", "b", "c"]),
    ("$SPACE", ["a", "b"]),
    ('"$SPACE"', ["a  b"]),
    ("x${SPACE}y", ["xa", "by"]),
    ("'a b' c", ["a b", "c"]),
    ("a\\ b", ["a b"]),
    ('""', []),
    ("80 ${NOPE:-443/tcp 8080}", ["80", "443/tcp", "8080"]),
])
def test_expand_words(text: str, expected: list[str]) -> None:
    assert expand_words(text, ENV) == expected


def first(source: str) -> Instruction:
    return parse(f"FROM scratch\n{source}\n").stages[0].instructions[0]


SCOPE = {"V": "1.2", "DIR": "/srv/app", "WHO": "app", "PORTS": "80 443", "SIG": "SIGINT",
         "NAME": "my app"}


@pytest.mark.parametrize(("source", "check"), [
    ('ENV A=$V B="${DIR}/x y" C=\'$V\'', lambda i: i.pairs == (
        KeyValue("A", "1.2"), KeyValue("B", "/srv/app/x y"), KeyValue("C", "$V"))),
    ("ENV OLD $DIR and more", lambda i: i.pairs == (KeyValue("OLD", "/srv/app and more", True),)),
    ('LABEL version=$V "name"="$NAME"', lambda i: i.pairs == (
        KeyValue("version", "1.2"), KeyValue("name", "my app"))),
    ('ARG A=$V B C="x y"', lambda i: i.args == (
        ArgDefinition("A", "1.2"), ArgDefinition("B"), ArgDefinition("C", "x y"))),
    ("EXPOSE $PORTS 53/udp", lambda i: i.ports == ("80", "443", "53/udp")),
    ("WORKDIR $DIR/sub", lambda i: i.path == "/srv/app/sub"),
    ("USER ${WHO}:${WHO}", lambda i: i.user == "app:app"),
    ("STOPSIGNAL $SIG", lambda i: i.signal == "SIGINT"),
    ('VOLUME ["$DIR/data", "/x"]', lambda i: i.paths == ("/srv/app/data", "/x")),
    ("COPY --chown=$WHO src-$V.tar $DIR/", lambda i: (i.sources, i.dest, i.chown) == (
        ("src-1.2.tar",), "/srv/app/", "app")),
    ('COPY ["$NAME", "$DIR"]', lambda i: (i.sources, i.dest) == (("my app",), "/srv/app")),
    ("ADD --checksum=$V https://x/$V.tgz /", lambda i: (i.sources, i.checksum) == (
        ("https://x/1.2.tgz",), "1.2")),
    ("RUN echo $V", lambda i: i.command.args == ("echo $V",)),
    ('CMD ["echo", "$V"]', lambda i: i.command.args == ("echo", "$V")),
    ("ONBUILD WORKDIR $DIR", lambda i: i.trigger.path == "$DIR"),
    ("RUN --mount=type=cache,target=$DIR/cache,id=c-$V make",
     lambda i: (i.mounts[0].target, i.mounts[0].id, i.command.args) == (
         "/srv/app/cache", "c-1.2", ("make",))),
])
def test_instruction_expand(source: str, check: object) -> None:
    instruction = first(source)
    expanded = instruction.expand(SCOPE)
    assert type(expanded) is type(instruction)
    assert (expanded.line, expanded.original) == (instruction.line, instruction.original)
    assert check(expanded)  # type: ignore[operator]


def test_expand_is_a_copy() -> None:
    workdir = first("WORKDIR $DIR")
    assert isinstance(workdir, Workdir)
    assert workdir.expand(SCOPE).path == "/srv/app"
    assert workdir.path == "$DIR"


def test_instructions_the_builder_does_not_expand_are_unchanged() -> None:
    for source in ("RUN echo $V", "CMD echo $V", "ENTRYPOINT $V", 'SHELL ["$V"]',
                   "HEALTHCHECK CMD echo $V", "ONBUILD RUN $V", "MAINTAINER $V"):
        instruction = first(source)
        assert instruction.expand(SCOPE) == instruction, source


def test_from_expands_with_meta_args() -> None:
    df = parse("ARG TAG=3.20\nFROM --platform=$PLATFORM alpine:${TAG}\n")
    header = df.stages[0].header
    assert isinstance(header, From)
    expanded = header.expand({"TAG": "3.21", "PLATFORM": "linux/arm64"})
    assert (expanded.base, expanded.platform) == ("alpine:3.21", "linux/arm64")


def test_copy_heredoc_bodies_expand_unless_quoted() -> None:
    copy = first("COPY <<a <<'b' <<-c /d/\nv=$V \"$V\"\na\nv=$V\nb\n\tv=$V\nc")
    assert isinstance(copy, Copy)
    expanded = copy.expand(SCOPE)
    assert [h.data for h in expanded.contents] == ['v=1.2 "1.2"\n', "v=$V\n", "v=1.2\n"]
    assert all(not h.expand for h in expanded.contents)
    assert expanded.expand(SCOPE) == expanded  # not expanded twice


def test_expand_errors_name_the_line() -> None:
    df = parse("FROM a\nWORKDIR /x\nUSER ${WHO:?set WHO with --build-arg}\n", path="df")
    user = df.stages[0].instructions[1]
    assert isinstance(user, User)
    with pytest.raises(DockerfileError) as caught:
        df.expand(user, {})
    assert caught.value.message == (
        'df:3: failed to process "${WHO:?set WHO with --build-arg}": WHO: set WHO with --build-arg')
    with pytest.raises(DockerfileError, match=r"Dockerfile:2: .*unsupported mount type"):
        first("RUN --mount=type=$T x").expand({"T": "nfs"})


def test_expand_uses_the_dockerfiles_escape_character() -> None:
    df = parse("# escape=`\nFROM a\nWORKDIR c:\\data\\$V `$V\n")
    workdir = df.stages[0].instructions[0]
    assert isinstance(workdir, Workdir)
    assert df.expand(workdir, {"V": "x"}).path == "c:\\data\\x $V"


def test_instruction_types_cover_expansion() -> None:
    expanding = {Add, Arg, Copy, Env, Expose, From, Label, StopSignal, User, Volume, Workdir, Run}
    not_expanding = {Cmd, Onbuild}
    assert all("_expanded" in vars(cls) for cls in expanding)
    assert not any("_expanded" in vars(cls) for cls in not_expanding)


def test_heredoc_dataclass_defaults() -> None:
    assert Heredoc("EOF") == Heredoc(name="EOF", content="", expand=True, chomp=False, fd=0)


def test_env_and_arg_classes() -> None:
    env = first("ENV A=1")
    arg = first("ARG A")
    assert isinstance(env, Env) and isinstance(arg, Arg)
    assert isinstance(first("EXPOSE 1"), Expose) and isinstance(first("LABEL a=b"), Label)
    assert isinstance(first("RUN x"), Run) and isinstance(first("VOLUME /v"), Volume)
    assert isinstance(first("STOPSIGNAL 9"), StopSignal)
