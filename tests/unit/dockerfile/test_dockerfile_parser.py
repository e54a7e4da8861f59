"""Parser: every instruction form, flags, JSON vs shell form, stages and error messages."""

from __future__ import annotations

from typing import Any

import pytest
from sbx.build.dockerfile import (
    Add,
    Arg,
    ArgDefinition,
    Cmd,
    CommandLine,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Heredoc,
    Instruction,
    KeyValue,
    Label,
    Maintainer,
    Onbuild,
    Run,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
    load,
    parse,
)
from sbx.errors import DockerfileError


def only(line: str) -> Instruction:
    """The single instruction after ``FROM scratch``."""
    (instruction,) = parse(f"FROM scratch\n{line}\n").stages[0].instructions
    return instruction


def fields(instruction: Instruction) -> dict[str, Any]:
    skip = {"line", "end_line", "original"}
    return {k: v for k, v in vars(instruction).items() if k not in skip}


SHELL = lambda text: CommandLine((text,), False)  # noqa: E731
EXEC = lambda *argv: CommandLine(tuple(argv), True)  # noqa: E731


@pytest.mark.parametrize(("line", "kind", "expected"), [
    # RUN / CMD / ENTRYPOINT: exec form, shell form, invalid JSON falls back to shell
    ("RUN echo hi", Run, {"command": SHELL("echo hi")}),
    ('RUN ["echo", "hi"]', Run, {"command": EXEC("echo", "hi")}),
    ('RUN   [ "a" , "b c" ]  ', Run, {"command": EXEC("a", "b c")}),
    ("RUN [echo, hi]", Run, {"command": SHELL("[echo, hi]")}),
    ('RUN ["echo", "hi"', Run, {"command": SHELL('["echo", "hi"')}),
    ("RUN ['echo']", Run, {"command": SHELL("['echo']")}),
    ('RUN ["a"] && b', Run, {"command": SHELL('["a"] && b')}),
    ('RUN ["a\\u0041", "\\"q\\""]', Run, {"command": EXEC("aA", '"q"')}),
    ("RUN --network=none --security=insecure make", Run,
     {"command": SHELL("make"), "network": "none", "security": "insecure"}),
    ("RUN -- --network=none", Run, {"command": SHELL("--network=none")}),
    ("run echo lower", Run, {"command": SHELL("echo lower")}),
    ("CMD echo hi", Cmd, {"command": SHELL("echo hi")}),
    ('CMD ["redis-server", "--port", "6379"]', Cmd,
     {"command": EXEC("redis-server", "--port", "6379")}),
    ("CMD []", Cmd, {"command": EXEC()}),
    ("CMD", Cmd, {"command": CommandLine((), False)}),
    ('ENTRYPOINT ["/entry.sh"]', Entrypoint, {"command": EXEC("/entry.sh")}),
    ("ENTRYPOINT exec top -b", Entrypoint, {"command": SHELL("exec top -b")}),
    ('SHELL ["powershell", "-command"]', Shell, {"argv": ("powershell", "-command")}),
    # ENV / LABEL / ARG keep the words as written; quotes go at expansion
    ("ENV A=1", Env, {"pairs": (KeyValue("A", "1"),)}),
    ('ENV A=1 B="two words" C=three\\ words', Env, {"pairs": (
        KeyValue("A", "1"), KeyValue("B", '"two words"'), KeyValue("C", "three\\ words"))}),
    ("ENV NAME value with spaces", Env, {"pairs": (KeyValue("NAME", "value with spaces", True),)}),
    ("ENV EMPTY=", Env, {"pairs": (KeyValue("EMPTY", ""),)}),
    ("ENV A=b=c", Env, {"pairs": (KeyValue("A", "b=c"),)}),
    ('LABEL "com.example.vendor"="ACME" version=1.0', Label, {"pairs": (
        KeyValue('"com.example.vendor"', '"ACME"'), KeyValue("version", "1.0"))}),
    ("LABEL description This text", Label, {"pairs": (KeyValue("description", "This text", True),)}),
    ("ARG A", Arg, {"args": (ArgDefinition("A"),)}),
    ('ARG a=1 b c="x y" d=', Arg, {"args": (
        ArgDefinition("a", "1"), ArgDefinition("b"), ArgDefinition("c", '"x y"'),
        ArgDefinition("d", ""))}),
    ("EXPOSE 80 443/tcp 53/udp", Expose, {"ports": ("80", "443/tcp", "53/udp")}),
    ("EXPOSE $PORT", Expose, {"ports": ("$PORT",)}),
    ("WORKDIR /app", Workdir, {"path": "/app"}),
    ("WORKDIR /path with space", Workdir, {"path": "/path with space"}),
    ("USER app:app", User, {"user": "app:app"}),
    ("STOPSIGNAL SIGTERM", StopSignal, {"signal": "SIGTERM"}),
    ("MAINTAINER Jane <jane@example.com>", Maintainer, {"name": "Jane <jane@example.com>"}),
    ("VOLUME /data", Volume, {"paths": ("/data",)}),
    ("VOLUME /a /b", Volume, {"paths": ("/a", "/b")}),
    ('VOLUME ["/data", "/my vol"]', Volume, {"paths": ("/data", "/my vol")}),
])
def test_instruction_forms(line: str, kind: type, expected: dict[str, Any]) -> None:
    instruction = only(line)
    assert type(instruction) is kind
    got = fields(instruction)
    assert {k: got[k] for k in expected} == expected


COPY_DEFAULTS = {"from_": None, "chown": None, "chmod": None, "link": False,
                 "parents": False, "excludes": (), "contents": ()}


@pytest.mark.parametrize(("line", "expected"), [
    ("COPY . /app", {"sources": (".",), "dest": "/app"}),
    ("COPY a b c /dir/", {"sources": ("a", "b", "c"), "dest": "/dir/"}),
    ('COPY ["my file", "/dest dir/"]', {"sources": ("my file",), "dest": "/dest dir/"}),
    ("COPY --from=build /out/app /usr/bin/app",
     {"sources": ("/out/app",), "dest": "/usr/bin/app", "from_": "build"}),
    ("COPY --chown=1000:1000 --chmod=0755 --link a /b",
     {"chown": "1000:1000", "chmod": "0755", "link": True}),
    ("COPY --link=false a /b", {"link": False}),
    ("COPY --parents --exclude=*.pyc --exclude=tests a/ /b/",
     {"parents": True, "excludes": ("*.pyc", "tests")}),
    ('COPY --chown="user name" a /b', {"chown": "user name"}),
    ("copy --from=0 x y", {"from_": "0"}),
])
def test_copy(line: str, expected: dict[str, Any]) -> None:
    instruction = only(line)
    assert isinstance(instruction, Copy)
    got = fields(instruction)
    assert {k: got[k] for k in expected} == expected
    for key, default in COPY_DEFAULTS.items():
        if key not in expected:
            assert got[key] == default, key


@pytest.mark.parametrize(("line", "expected"), [
    ("ADD https://example.com/a.tgz /tmp/", {"sources": ("https://example.com/a.tgz",),
                                             "dest": "/tmp/", "keep_git_dir": None}),
    ("ADD --keep-git-dir=true git@github.com:a/b.git /src",
     {"keep_git_dir": True, "sources": ("git@github.com:a/b.git",)}),
    ("ADD --checksum=sha256:abc --chown=a --chmod=600 --link x /y",
     {"checksum": "sha256:abc", "chown": "a", "chmod": "600", "link": True}),
    ("ADD --unpack=false a.tar /x", {"unpack": False}),
    ("ADD --exclude=a --exclude=b . /x", {"excludes": ("a", "b")}),
])
def test_add(line: str, expected: dict[str, Any]) -> None:
    instruction = only(line)
    assert isinstance(instruction, Add)
    got = fields(instruction)
    assert {k: got[k] for k in expected} == expected


@pytest.mark.parametrize(("line", "expected"), [
    ("HEALTHCHECK NONE", {"test": ("NONE",), "interval": 0, "retries": 0}),
    ("HEALTHCHECK none", {"test": ("NONE",)}),
    ("HEALTHCHECK CMD curl -f http://localhost/ || exit 1",
     {"test": ("CMD-SHELL", "curl -f http://localhost/ || exit 1")}),
    ('HEALTHCHECK CMD ["redis-cli", "ping"]', {"test": ("CMD", "redis-cli", "ping")}),
    ("HEALTHCHECK --interval=5m --timeout=3s --start-period=1m30s --start-interval=500ms "
     "--retries=4 CMD true",
     {"interval": 300_000_000_000, "timeout": 3_000_000_000, "start_period": 90_000_000_000,
      "start_interval": 500_000_000, "retries": 4}),
    ("HEALTHCHECK --interval=1.5s --timeout=0 CMD true", {"interval": 1_500_000_000, "timeout": 0}),
    ("HEALTHCHECK --interval=1h2m3s4ms5us6ns CMD true", {"interval": 3_723_004_005_006}),
])
def test_healthcheck(line: str, expected: dict[str, Any]) -> None:
    instruction = only(line)
    assert isinstance(instruction, Healthcheck)
    got = fields(instruction)
    assert {k: got[k] for k in expected} == expected
    assert instruction.disabled == (expected.get("test") == ("NONE",))


def test_from_forms() -> None:
    df = parse("ARG V=3\nFROM --platform=linux/amd64 alpine:$V AS Builder\n"
               "FROM builder\nfrom scratch as final\n")
    assert [(s.index, s.name, s.base, s.platform) for s in df.stages] == [
        (0, "builder", "alpine:$V", "linux/amd64"), (1, None, "builder", None),
        (2, "final", "scratch", None)]
    assert df.stages[2].header.is_scratch
    assert df.stage("BUILDER") is df.stages[0]
    assert df.stage(2) is df.stages[2] and df.stage("1") is df.stages[1]
    assert df.args_before_from == (Arg(line=1, end_line=1, original="ARG V=3",
                                       args=(ArgDefinition("V", "3"),)),)


def test_stage_lookup_error() -> None:
    with pytest.raises(DockerfileError, match="build stage 'nope' not found"):
        parse("FROM a AS x\n").stage("nope")


def test_run_mounts_are_recorded() -> None:
    run = only("RUN --mount=type=cache,target=/root/.cache,sharing=locked "
               "--mount=type=secret,id=tok,required --mount=type=bind,from=build,source=/o,target=/i,rw "
               "--mount=type=tmpfs,target=/t,size=64m pip install x")
    assert isinstance(run, Run)
    cache, secret, bind, tmpfs = run.mounts
    assert (cache.type, cache.target, cache.sharing, cache.readonly) == ("cache", "/root/.cache", "locked", False)
    assert (secret.type, secret.id, secret.required, secret.readonly) == ("secret", "tok", True, True)
    assert (bind.type, bind.from_, bind.source, bind.readonly) == ("bind", "build", "/o", False)
    assert (tmpfs.type, tmpfs.size) == ("tmpfs", 64 * 1024 * 1024)
    assert cache.spec == "type=cache,target=/root/.cache,sharing=locked"
    assert run.command == SHELL("pip install x")


def test_run_heredoc_is_kept() -> None:
    run = only("RUN <<EOF\napt-get update\nEOF")
    assert isinstance(run, Run)
    assert run.command == SHELL("<<EOF")
    assert run.heredocs == (Heredoc("EOF", "apt-get update\n"),)
    assert (run.line, run.end_line) == (2, 4)


def test_copy_heredoc_sources() -> None:
    copy = only('COPY <<a.txt <<-"b.txt" real.txt /dir/\nA $X\na.txt\n\tB\n\tb.txt')
    assert isinstance(copy, Copy)
    assert copy.sources == ("real.txt",)
    assert copy.contents == (Heredoc("a.txt", "A $X\n"),
                             Heredoc("b.txt", "\tB\n", expand=False, chomp=True))
    assert copy.contents[1].data == "B\n"


def test_onbuild_holds_a_parsed_trigger() -> None:
    onbuild = only("ONBUILD COPY --chown=a . /app")
    assert isinstance(onbuild, Onbuild)
    assert isinstance(onbuild.trigger, Copy) and onbuild.trigger.chown == "a"
    assert onbuild.expression == "COPY --chown=a . /app"
    heredoc = only("onbuild run <<EOF\necho hi\nEOF")
    assert isinstance(heredoc, Onbuild) and isinstance(heredoc.trigger, Run)
    assert heredoc.expression == "run <<EOF\necho hi\nEOF"


def test_positions_and_original() -> None:
    df = parse("# c\nFROM a\n\nRUN echo a \\\n  # inner\n  b\nCOPY x \\\n  y\n")
    run, copy = df.stages[0].instructions
    assert (run.line, run.end_line, run.original) == (4, 6, "RUN echo a   b")
    assert (copy.line, copy.end_line, copy.original) == (7, 8, "COPY x   y")


def test_windows_paths_with_backtick_escape() -> None:
    df = parse("# escape=`\nFROM windows\nCOPY testfile.txt c:\\\nWORKDIR c:\\app `\n  \\sub\n")
    copy, workdir = df.stages[0].instructions
    assert isinstance(copy, Copy) and copy.dest == "c:\\"
    assert isinstance(workdir, Workdir) and workdir.path == "c:\\app   \\sub"
    assert df.escape == "`"
    assert df.expand(workdir, {}).path == "c:\\app   \\sub"


def test_canonical_ignores_position() -> None:
    a = parse("FROM a\nRUN x\n").stages[0].instructions[0]
    b = parse("FROM a\n\n\nRUN    x\n").stages[0].instructions[0]
    assert a.canonical() == b.canonical()
    assert a.canonical() != only("RUN y").canonical()


def test_load_reads_a_file(tmp_path: Any) -> None:
    path = tmp_path / "Dockerfile"
    path.write_bytes(b"\xef\xbb\xbfFROM a\r\nRUN b\r\n")
    df = load(path, name="Dockerfile")
    assert df.stages[0].instructions[0].original == "RUN b"
    with pytest.raises(DockerfileError, match="cannot read the Dockerfile"):
        load(tmp_path / "missing")


def test_warnings_surface_on_the_dockerfile() -> None:
    assert [w.line for w in parse("FROM a\nRUN a \\\n\n b\n").warnings] == [4]


ERRORS = [
    ("FROM a\nRUN x\nRUNN y\n", "Dockerfile:3: unknown instruction: RUNN", "did you mean RUN?"),
    ("FROM a\ncopyy a b\n", "Dockerfile:2: unknown instruction: copyy", "did you mean copy?"),
    ("FROM a\nFOOBAR x\n", "Dockerfile:2: unknown instruction: FOOBAR", None),
    ("# c\nFROM\n", "Dockerfile:2: FROM requires at least one argument", None),
    ("FROM a b\n", "Dockerfile:1: FROM requires either one or three arguments", None),
    ("FROM a AS 1x\n", 'Dockerfile:1: invalid name for build stage: "1x", name can\'t start '
     "with a number or contain symbols", None),
    ("FROM --platfrm=x a\n", "Dockerfile:1: unknown flag: --platfrm", "did you mean --platform?"),
    ("FROM a\nCOPY a b\nCOPY x y\nCOPY --frm=a b c\n", "Dockerfile:4: unknown flag: --frm",
     "did you mean --from?"),
    ("FROM a\nRUN --bogus x\n", "Dockerfile:2: unknown flag: --bogus", None),
    ("FROM a\nENV --x=1 A=b\n", "Dockerfile:2: unknown flag: --x", "this instruction takes no flags"),
    ("FROM a\nCOPY --from=a --from=b x y\n", "Dockerfile:2: duplicate flag specified: --from", None),
    ("FROM a\nCOPY --chown x y\n", "Dockerfile:2: missing a value on flag: --chown", None),
    ("FROM a\nCOPY --link=maybe x y\n",
     "Dockerfile:2: expecting boolean value for flag --link, not: maybe", None),
    ("FROM a\nCOPY --from=$X a b\n", "Dockerfile:2: variable expansion is not supported for --from", None),
    ("FROM a\nCOPY onlyone\n", "Dockerfile:2: COPY requires at least two arguments, but only one "
     "was provided. Destination could not be determined", None),
    ("FROM a\nADD x\n", "Dockerfile:2: ADD requires at least two arguments, but only one was "
     "provided. Destination could not be determined", None),
    ("FROM a\nCOPY a <<EOF\nx\nEOF\n", "Dockerfile:2: COPY cannot accept a heredoc as a destination", None),
    ("FROM a\nRUN\n", "Dockerfile:2: RUN requires at least one argument", None),
    ("FROM a\nRUN --network=bridge x\n", 'Dockerfile:2: invalid network mode "bridge"', None),
    ("FROM a\nRUN --security=open x\n", 'Dockerfile:2: security "open" is not valid', None),
    ("FROM a\nRUN --mount=type=nfs x\n", 'Dockerfile:2: unsupported mount type "nfs"', None),
    ("FROM a\nRUN --mount=type=bind,size=1m x\n",
     "Dockerfile:2: unexpected key 'size' for mount type 'bind'", None),
    ("FROM a\nRUN --mount=type=secret x\n",
     "Dockerfile:2: invalid secret mount. one of source, target required", None),
    ("FROM a\nRUN --mount=type=cache,bogus=1 x\n", "Dockerfile:2: unexpected key 'bogus' in 'bogus=1'", None),
    ("FROM a\nRUN [\"a\", 1]\n", "Dockerfile:2: when using JSON array syntax, arrays must be "
     "comprised of strings only", None),
    ("FROM a\nSHELL /bin/bash -c\n", "Dockerfile:2: SHELL requires the arguments to be in JSON "
     "form: SHELL /bin/bash -c", None),
    ("FROM a\nSHELL []\n", "Dockerfile:2: SHELL requires at least one argument", None),
    ("FROM a\nENV\n", "Dockerfile:2: ENV requires at least one argument", None),
    ("FROM a\nENV ONLYKEY\n", "Dockerfile:2: ENV must have two arguments", None),
    ("FROM a\nENV A=1 B\n", "Dockerfile:2: Syntax error - can't find = in \"B\". Must be of the "
     "form: name=value", None),
    ("FROM a\nLABEL =x\n", "Dockerfile:2: LABEL names can not be blank", None),
    ("FROM a\nARG =1\n", "Dockerfile:2: ARG names can not be blank", None),
    ("FROM a\nARG\n", "Dockerfile:2: ARG requires at least one argument", None),
    ("FROM a\nEXPOSE\n", "Dockerfile:2: EXPOSE requires at least one argument", None),
    ("FROM a\nWORKDIR\n", "Dockerfile:2: WORKDIR requires exactly one argument", None),
    ("FROM a\nUSER\n", "Dockerfile:2: USER requires exactly one argument", None),
    ("FROM a\nSTOPSIGNAL\n", "Dockerfile:2: STOPSIGNAL requires exactly one argument", None),
    ("FROM a\nVOLUME [\"\"]\n", "Dockerfile:2: VOLUME specified can not be an empty string", None),
    ("FROM a\nHEALTHCHECK\n", "Dockerfile:2: HEALTHCHECK requires at least one argument", None),
    ("FROM a\nHEALTHCHECK NONE x\n", "Dockerfile:2: HEALTHCHECK NONE takes no arguments", None),
    ("FROM a\nHEALTHCHECK CMD\n", "Dockerfile:2: Missing command after HEALTHCHECK CMD", None),
    ("FROM a\nHEALTHCHECK RUN x\n", 'Dockerfile:2: Unknown type "RUN" in HEALTHCHECK (try CMD)', None),
    ("FROM a\nHEALTHCHECK --interval=10 CMD x\n",
     'Dockerfile:2: time: missing unit in duration "10"', None),
    ("FROM a\nHEALTHCHECK --timeout=5parsecs CMD x\n",
     'Dockerfile:2: time: unknown unit "parsecs" in duration "5parsecs"', None),
    ("FROM a\nHEALTHCHECK --interval=10us CMD x\n",
     'Dockerfile:2: Interval "interval" cannot be less than 1ms', None),
    ("FROM a\nHEALTHCHECK --retries=-1 CMD x\n", "Dockerfile:2: --retries cannot be negative (-1)", None),
    ("FROM a\nHEALTHCHECK --retries=two CMD x\n", 'Dockerfile:2: invalid value for --retries: "two"', None),
    ("FROM a\nONBUILD\n", "Dockerfile:2: ONBUILD requires at least one argument", None),
    ("FROM a\nONBUILD ONBUILD RUN x\n",
     "Dockerfile:2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", None),
    ("FROM a\nONBUILD FROM b\n", "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger", None),
    ("FROM a\nONBUILD maintainer me\n",
     "Dockerfile:2: MAINTAINER isn't allowed as an ONBUILD trigger", None),
    ("FROM a\nONBUILD RUNN x\n", "Dockerfile:2: unknown instruction: RUNN", "did you mean RUN?"),
    ("FROM a\nMAINTAINER\n", "Dockerfile:2: MAINTAINER requires exactly one argument", None),
    ("ARG A\nRUN x\nFROM a\n", "Dockerfile:2: no build stage in current context",
     "only ARG may come before the first FROM, not RUN"),
    ("ARG A\n", "Dockerfile:1: dockerfile contains no stages to build", "add a FROM instruction"),
    ("# only a comment\n\n", "Dockerfile: file with no instructions", None),
    ("", "Dockerfile: file with no instructions", None),
    ("FROM a AS x\nRUN y\nFROM b AS X\n",
     'Dockerfile:3: duplicate stage name "x", stage names should be unique',
     "the first stage with that name starts at line 1"),
    ("FROM a\nRUN <<EOF\nno end\n", "Dockerfile:2: unterminated heredoc", None),
]


@pytest.mark.parametrize(("source", "message", "hint"), ERRORS)
def test_errors(source: str, message: str, hint: str | None) -> None:
    with pytest.raises(DockerfileError) as caught:
        parse(source)
    assert caught.value.message == message
    if hint is not None:
        assert caught.value.hint == hint


def test_error_names_the_file_and_prints_like_docker() -> None:
    with pytest.raises(DockerfileError) as caught:
        parse("FROM a\nRUNN x\n", path="app/Dockerfile.dev")
    err = caught.value
    assert (err.path, err.line) == ("app/Dockerfile.dev", 2)
    assert err.one_line() == "app/Dockerfile.dev:2: unknown instruction: RUNN (did you mean RUN?)"
    assert err.exit_code == 1


def test_from_without_as_name() -> None:
    (stage,) = parse("FROM busybox\n").stages
    assert (stage.name, stage.base, stage.line, stage.instructions) == (None, "busybox", 1, ())
    assert isinstance(stage.header, From)
