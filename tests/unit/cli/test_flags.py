"""The docker-style option parser: pflag rules and docker's error wording."""

from __future__ import annotations

import pytest
from sbx.cli.flags import CommandSpec, Flag, help_text, parse
from sbx.errors import InvalidArgument

RUN = CommandSpec(
    name="sbx run",
    usage="sbx run [OPTIONS] IMAGE [COMMAND] [ARG...]",
    summary="Create and run a new container from an image",
    flags=(
        Flag(("-d", "--detach"), "detach", "bool", help="Run container in background and print container ID"),
        Flag(("-i", "--interactive"), "interactive", "bool", help="Keep STDIN open even if not attached"),
        Flag(("-t", "--tty"), "tty", "bool", help="Allocate a pseudo-TTY"),
        Flag(("--rm",), "rm", "bool", help="Automatically remove the container when it exits"),
        Flag(("-e", "--env"), "env", multiple=True, help="Set environment variables"),
        Flag(("-p", "--publish"), "publish", multiple=True, help="Publish a container's port(s) to the host"),
        Flag(("--name",), "name", help="Assign a name to the container"),
        Flag(("-m", "--memory"), "memory", "bytes", help="Memory limit"),
        Flag(("--cpus",), "cpus", "float", help="Number of CPUs"),
        Flag(("--stop-timeout",), "stop_timeout", "int", help="Timeout (in seconds) to stop a container"),
        Flag(("--health-interval",), "health_interval", "duration", help="Time between running the check"),
        Flag(("-w", "--workdir"), "workdir", help="Working directory inside the container"),
    ),
    min_args=1,
)
RM = CommandSpec("sbx rm", "sbx rm [OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers",
                 (Flag(("-f", "--force"), "force", "bool", help="Force the removal"),),
                 min_args=1, interspersed=True)


@pytest.mark.parametrize("argv, opts, args", [
    (["bb"], {}, ["bb"]),
    (["--rm", "bb", "true"], {"rm": True}, ["bb", "true"]),
    (["bb", "ls", "-l"], {}, ["bb", "ls", "-l"]),
    (["bb", "--rm"], {"rm": False}, ["bb", "--rm"]),
    (["-it", "bb", "sh"], {"interactive": True, "tty": True}, ["bb", "sh"]),
    (["-dit", "bb"], {"detach": True, "interactive": True, "tty": True}, ["bb"]),
    (["--name=web", "bb"], {"name": "web"}, ["bb"]),
    (["--name", "web", "bb"], {"name": "web"}, ["bb"]),
    (["--name", "-x", "bb"], {"name": "-x"}, ["bb"]),
    (["-p8080:80", "bb"], {"publish": ["8080:80"]}, ["bb"]),
    (["-p", "1:1", "-p", "2:2", "bb"], {"publish": ["1:1", "2:2"]}, ["bb"]),
    (["-e=A=1", "bb"], {"env": ["A=1"]}, ["bb"]),
    (["-eA=1", "--env", "B=2", "--env=C", "bb"], {"env": ["A=1", "B=2", "C"]}, ["bb"]),
    (["-de", "X=1", "bb"], {"detach": True, "env": ["X=1"]}, ["bb"]),
    (["-dp80", "bb"], {"detach": True, "publish": ["80"]}, ["bb"]),
    (["--rm=false", "bb"], {"rm": False}, ["bb"]),
    (["--rm=true", "bb"], {"rm": True}, ["bb"]),
    (["-d=true", "bb"], {"detach": True}, ["bb"]),
    (["-d=0", "bb"], {"detach": False}, ["bb"]),
    (["--rm", "false"], {"rm": True}, ["false"]),
    (["--", "bb", "--rm"], {"rm": False}, ["bb", "--rm"]),
    (["bb", "--", "x"], {}, ["bb", "--", "x"]),
    (["-", "x"], {}, ["-", "x"]),
    (["-m", "512m", "bb"], {"memory": 512 * 1024 * 1024}, ["bb"]),
    (["--memory=1g", "bb"], {"memory": 1 << 30}, ["bb"]),
    (["--cpus", "1.5", "bb"], {"cpus": 1.5}, ["bb"]),
    (["--stop-timeout", "-1", "bb"], {"stop_timeout": -1}, ["bb"]),
    (["--health-interval", "1m30s", "bb"], {"health_interval": 90.0}, ["bb"]),
    (["--name", "a", "--name", "b", "bb"], {"name": "b"}, ["bb"]),
])
def test_run_parsing(argv: list[str], opts: dict, args: list[str]) -> None:
    parsed = parse(RUN, argv)
    for key, value in opts.items():
        assert parsed.opts[key] == value, key
    assert parsed.args == args
    assert not parsed.help


def test_defaults_and_given() -> None:
    parsed = parse(RUN, ["-e", "A=1", "bb"])
    assert parsed.opts["env"] == ["A=1"]
    assert parsed.opts["publish"] == []
    assert parsed.opts["rm"] is False
    assert parsed.opts["name"] is None
    assert parsed.given == frozenset({"env"})
    assert parsed["env"] == ["A=1"]


def test_interspersed_flags_after_args() -> None:
    parsed = parse(RM, ["c1", "-f", "c2"])
    assert parsed.opts["force"] is True
    assert parsed.args == ["c1", "c2"]
    parsed = parse(RM, ["c1", "--", "-f"])
    assert parsed.opts["force"] is False
    assert parsed.args == ["c1", "-f"]


@pytest.mark.parametrize("argv, message", [
    (["--foo", "bb"], "unknown flag: --foo"),
    (["--foo=1", "bb"], "unknown flag: --foo"),
    (["-z", "bb"], "unknown shorthand flag: 'z' in -z"),
    (["-dz", "bb"], "unknown shorthand flag: 'z' in -z"),
    (["--name"], "flag needs an argument: --name"),
    (["-e"], "flag needs an argument: 'e' in -e"),
    (["-de"], "flag needs an argument: 'e' in -e"),
    (["---x", "bb"], "bad flag syntax: ---x"),
    (["--=x", "bb"], "bad flag syntax: --=x"),
    (["-m", "abc", "bb"], """invalid argument "abc" for "-m, --memory" flag: invalid size: 'abc'"""),
    (["--stop-timeout", "x", "bb"],
     """invalid argument "x" for "--stop-timeout" flag: strconv.ParseInt: parsing "x": invalid syntax"""),
    (["--rm=yes", "bb"],
     """invalid argument "yes" for "--rm" flag: strconv.ParseBool: parsing "yes": invalid syntax"""),
    (["--cpus", "lots", "bb"],
     """invalid argument "lots" for "--cpus" flag: strconv.ParseFloat: parsing "lots": invalid syntax"""),
    (["--health-interval", "10", "bb"],
     """invalid argument "10" for "--health-interval" flag: time: missing unit in duration "10\""""),
    ([], '"sbx run" requires at least 1 argument.'),
])
def test_errors(argv: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse(RUN, argv)
    assert info.value.message == message
    assert info.value.hint is not None
    assert info.value.hint.startswith("See 'sbx run --help'.")


@pytest.mark.parametrize("lo, hi, argv, message", [
    (0, 0, ["x"], '"sbx x" accepts no arguments.'),
    (1, 1, [], '"sbx x" requires exactly 1 argument.'),
    (2, 2, ["a"], '"sbx x" requires exactly 2 arguments.'),
    (0, 1, ["a", "b"], '"sbx x" requires at most 1 argument.'),
    (1, 3, [], '"sbx x" requires at least 1 and at most 3 arguments.'),
    (2, None, ["a"], '"sbx x" requires at least 2 arguments.'),
])
def test_arity(lo: int, hi: int | None, argv: list[str], message: str) -> None:
    spec = CommandSpec("sbx x", "sbx x ARGS", "Do x", min_args=lo, max_args=hi, interspersed=True)
    with pytest.raises(InvalidArgument) as info:
        parse(spec, argv)
    assert info.value.message == message
    assert "Usage:  sbx x ARGS" in (info.value.hint or "")


@pytest.mark.parametrize("argv", [["-h"], ["--help"], ["--rm", "-h"], ["--help=true"], ["-dh"]])
def test_help_skips_arity(argv: list[str]) -> None:
    parsed = parse(RUN, argv)
    assert parsed.help


def test_help_after_image_belongs_to_command() -> None:
    parsed = parse(RUN, ["bb", "--help"])
    assert not parsed.help
    assert parsed.args == ["bb", "--help"]


def test_help_text_layout() -> None:
    spec = CommandSpec("sbx ps", "sbx ps [OPTIONS]", "List containers", (
        Flag(("-a", "--all"), "all", "bool", help="Show all containers (default shows just running)"),
        Flag(("-f", "--filter"), "filter", multiple=True, metavar="filter",
             help="Filter output based on conditions provided"),
        Flag(("--format",), "format", help="Format output using a custom template"),
        Flag(("-n", "--last"), "last", "int", default=-1, help="Show n last created containers"),
        Flag(("--hidden",), "hidden", "bool", hidden=True),
        Flag(("-t", "--time"), "time", "duration", default=10.0, help="Wait"),
        Flag(("--mode",), "mode", default="fast", help="Mode"),
    ), max_args=0)
    assert help_text(spec) == (
        "\n"
        "Usage:  sbx ps [OPTIONS]\n"
        "\n"
        "List containers\n"
        "\n"
        "Options:\n"
        "  -a, --all             Show all containers (default shows just running)\n"
        "  -f, --filter filter   Filter output based on conditions provided\n"
        "      --format string   Format output using a custom template\n"
        "  -n, --last int        Show n last created containers (default -1)\n"
        "      --mode string     Mode (default \"fast\")\n"
        "  -t, --time duration   Wait (default 10s)\n"
    )


def test_help_text_list_type() -> None:
    text = help_text(RUN)
    assert "  -e, --env list " in text
    assert "      --cpus decimal " in text
    assert "  -m, --memory bytes " in text
    assert "--help" not in text


@pytest.mark.parametrize("names", [("e",), ("-ee",), ("--x",), ("env",)])
def test_bad_flag_definitions(names: tuple[str, ...]) -> None:
    with pytest.raises(ValueError):
        Flag(names, "x")


def test_bad_kind() -> None:
    with pytest.raises(ValueError):
        Flag(("--x",), "x", "list")


def test_custom_converter() -> None:
    def port(text: str) -> int:
        if not text.isdigit():
            raise ValueError(f"not a port: {text}")
        return int(text)

    spec = CommandSpec("sbx p", "sbx p", flags=(Flag(("--port",), "port", convert=port),))
    assert parse(spec, ["--port", "80"]).opts["port"] == 80
    with pytest.raises(InvalidArgument, match='invalid argument "x" for "--port" flag: not a port: x'):
        parse(spec, ["--port", "x"])
