"""--user parsing and resolution against passwd/group contents, following runc."""

from __future__ import annotations

import pytest
from sbx.errors import InvalidArgument
from sbx.runtime.userspec import ExecUser, UserSpec, parse_group, parse_passwd

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:App:/home/app:/bin/sh
app:x:1001:1001:Duplicate:/home/dup:/bin/sh
nohome:x:1002:1002::
broken line
bad:x:notanumber:1::/:
"""
GROUP = """\
root:x:0:
daemon:x:1:
wheel:x:10:root,app
docker:x:999:app
app:x:1000:
staff:x:50:
"""


@pytest.mark.parametrize("text, spec", [
    ("", UserSpec("", "")), (None, UserSpec("", "")), ("1000", UserSpec("1000", "")),
    ("1000:1000", UserSpec("1000", "1000")), ("app", UserSpec("app", "")),
    ("app:staff", UserSpec("app", "staff")), (":staff", UserSpec("", "staff")),
])
def test_parse(text: str | None, spec: UserSpec) -> None:
    assert UserSpec.parse(text) == spec


@pytest.mark.parametrize("text", ["app:", "a:b:c", "a b", "-1", "1:-5"])
def test_parse_errors(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid user spec"):
        UserSpec.parse(text)


def test_str() -> None:
    assert str(UserSpec("app", "staff")) == "app:staff"
    assert str(UserSpec("1000")) == "1000"


@pytest.mark.parametrize("spec, expected", [
    ("", ExecUser(0, 0, (10,), "/root")),
    ("root", ExecUser(0, 0, (10,), "/root")),
    ("0", ExecUser(0, 0, (10,), "/root")),
    ("app", ExecUser(1000, 1000, (10, 999), "/home/app")),
    ("1000", ExecUser(1000, 1000, (10, 999), "/home/app")),
    # groups are matched by the entry's name, as runc does
    ("1001", ExecUser(1001, 1001, (10, 999), "/home/dup")),
    ("app:staff", ExecUser(1000, 50, (), "/home/app")),
    ("app:50", ExecUser(1000, 50, (), "/home/app")),
    ("app:4242", ExecUser(1000, 4242, (), "/home/app")),
    ("4242", ExecUser(4242, 0, (), "/")),
    ("4242:4343", ExecUser(4242, 4343, (), "/")),
    (":staff", ExecUser(0, 50, (), "/root")),
    ("nohome", ExecUser(1002, 1002, (), "/")),
    ("daemon", ExecUser(1, 1, (), "/usr/sbin")),
])
def test_resolve(spec: str, expected: ExecUser) -> None:
    assert UserSpec.parse(spec).resolve(PASSWD, GROUP) == expected


def test_resolve_without_files() -> None:
    assert UserSpec.parse("").resolve(None, None) == ExecUser(0, 0, (), "/")
    assert UserSpec.parse("1000:1000").resolve(None, None) == ExecUser(1000, 1000, (), "/")
    uid, gid, extra, home = UserSpec.parse("5").resolve("", "")
    assert (uid, gid, extra, home) == (5, 0, (), "/")


@pytest.mark.parametrize("spec, message", [
    ("nobody", "unable to find user nobody: no matching entries in passwd file"),
    ("app:nogroup", "unable to find group nogroup: no matching entries in group file"),
    ("bad", "unable to find user bad: no matching entries in passwd file"),
    ("3000000000", "uids and gids must be in range 0-2147483647"),
    ("1:3000000000", "uids and gids must be in range 0-2147483647"),
])
def test_resolve_errors(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        UserSpec.parse(spec).resolve(PASSWD, GROUP)
    assert info.value.message == message


def test_name_needs_passwd_file() -> None:
    with pytest.raises(InvalidArgument, match="unable to find user app"):
        UserSpec.parse("app").resolve(None, None)


def test_group_add() -> None:
    user = UserSpec.parse("app").resolve(PASSWD, GROUP, group_add=["staff", "4000"])
    assert user.additional_gids == (10, 999, 50, 4000)
    with pytest.raises(InvalidArgument, match="Unable to find group nope"):
        UserSpec.parse("app").resolve(PASSWD, GROUP, group_add=["nope"])


def test_parsers_skip_malformed_lines() -> None:
    assert [e.name for e in parse_passwd(PASSWD)] == ["root", "daemon", "app", "app", "nohome"]
    assert parse_group("g:x:5:a,,b\n#c\nbad\nh:x:y:\n")[0].members == ("a", "b")
    assert len(parse_group("g:x:5:a,,b\n#c\nbad\nh:x:y:\n")) == 1
