"""--env-file, -e and image env merging, with the docker CLI's rules."""

from __future__ import annotations

from pathlib import Path

import pytest
from sbx.errors import InvalidArgument
from sbx.runtime.envfile import merge_env, parse_env_file, parse_env_flag, parse_env_text

ENV = {"HOME": "/root", "FROM_HOST": "yes", "EMPTY": ""}


@pytest.mark.parametrize("text, out", [
    ("A=1\nB=2\n", ["A=1", "B=2"]),
    ("# comment\n\n   \nA=1", ["A=1"]),
    ("  A=1", ["A=1"]),
    ("A= spaced value ", ["A= spaced value "]),
    ('A="quoted"', ['A="quoted"']),
    ("A=x=y", ["A=x=y"]),
    ("A=", ["A="]),
    ("FROM_HOST\nNOT_SET\nEMPTY", ["FROM_HOST=yes", "EMPTY="]),
    ("A=1\r\nB=2\r\n", ["A=1", "B=2"]),
    ("\ufeffA=1\n\ufeffB=2", ["A=1", "\ufeffB=2"]),
    ("  # indented comment\nA=1", ["A=1"]),
    ("A=1 # not a comment", ["A=1 # not a comment"]),
    ("", []),
])
def test_parse_env_text(text: str, out: list[str]) -> None:
    assert parse_env_text(text, environ=ENV) == out


@pytest.mark.parametrize("text, message", [
    ("A=1\nMY VAR=2", "poorly formatted environment: variable 'MY VAR' contains whitespaces (my.env, line 2)"),
    ("A =1", "poorly formatted environment: variable 'A ' contains whitespaces (my.env, line 1)"),
    ("\n\n=1", "poorly formatted environment: no variable name on line '=1' (my.env, line 3)"),
    ("KEY \n", "poorly formatted environment: variable 'KEY ' contains whitespaces (my.env, line 1)"),
])
def test_parse_env_text_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_env_text(text, "my.env", environ=ENV)
    assert info.value.message == message


def test_invalid_utf8() -> None:
    with pytest.raises(InvalidArgument, match="env file x contains invalid utf8 bytes at line 2"):
        parse_env_text(b"A=1\nB=\xff", "x", environ=ENV)


def test_parse_env_file(tmp_path: Path) -> None:
    path = tmp_path / "app.env"
    path.write_text("# db\nDB=postgres\nFROM_HOST\n")
    assert parse_env_file(path, environ=ENV) == ["DB=postgres", "FROM_HOST=yes"]
    with pytest.raises(InvalidArgument, match="open .*missing.env: No such file or directory"):
        parse_env_file(tmp_path / "missing.env")


def test_parse_env_file_uses_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SBX_TEST_ENV_VALUE", "from-os")
    path = tmp_path / "e"
    path.write_text("SBX_TEST_ENV_VALUE\n")
    assert parse_env_file(path) == ["SBX_TEST_ENV_VALUE=from-os"]


@pytest.mark.parametrize("value, out", [
    ("A=1", "A=1"), ("A=", "A="), ("FROM_HOST", "FROM_HOST=yes"), ("NOT_SET", "NOT_SET"),
    ("EMPTY", "EMPTY="), ("A==", "A=="),
])
def test_parse_env_flag(value: str, out: str) -> None:
    assert parse_env_flag(value, environ=ENV) == out


def test_parse_env_flag_os_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SBX_TEST_E", "v")
    assert parse_env_flag("SBX_TEST_E") == "SBX_TEST_E=v"


@pytest.mark.parametrize("value", ["", "=1"])
def test_parse_env_flag_errors(value: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid environment variable"):
        parse_env_flag(value, environ=ENV)


@pytest.mark.parametrize("image, overrides, out", [
    (["PATH=/bin", "A=1"], [], ["PATH=/bin", "A=1"]),
    (["PATH=/bin", "A=1"], ["A=2"], ["PATH=/bin", "A=2"]),
    (["PATH=/bin", "A=1"], ["B=3", "A=2"], ["PATH=/bin", "A=2", "B=3"]),
    (["A=1"], ["B=1", "B=2"], ["A=1", "B=2"]),
    (["PATH=/bin", "A=1"], ["A"], ["PATH=/bin"]),
    (["A=1"], ["NOT_SET"], ["A=1"]),
    (["A=1"], ["a=2"], ["A=1", "a=2"]),
    ([], ["X=1", "X", "X=3"], ["X=3"]),
])
def test_merge_env(image: list[str], overrides: list[str], out: list[str]) -> None:
    assert merge_env(image, overrides) == out
