"""``--user`` / ``USER``: parse "name", "uid", "name:group", "uid:gid" and resolve them.

Resolution follows runc's ``user.GetExecUser`` (as Docker uses it) on the contents of
the image's /etc/passwd and /etc/group: numeric ids need no entry; a name must have one
("unable to find user x: no matching entries in passwd file"); the first matching entry
wins; supplementary groups come from /etc/group only when no group was given; HOME
comes from the passwd entry, else "/".  Pure: takes file contents, not paths.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from sbx.errors import InvalidArgument

TYPE_CHECKING = False  # typing.TYPE_CHECKING would import typing (~3 ms at CLI start)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["UserSpec", "ExecUser", "PasswdEntry", "GroupEntry", "parse_passwd", "parse_group"]

MAX_ID = 2**31 - 1
_HINT = "use --user name|uid[:group|gid]"


@dataclass(frozen=True)
class ExecUser:
    """The ids a process runs as: uid, gid, supplementary gids and home directory.

    Unpacks like a tuple: ``uid, gid, additional_gids, home = spec.resolve(...)``.
    """

    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    home: str

    def __iter__(self) -> Iterator[Any]:
        return iter((self.uid, self.gid, self.additional_gids, self.home))


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def _int(text: str) -> int | None:
    text = text.strip()
    if text.isdigit() and text.isascii():
        return int(text)
    return None


def _fields(text: str, minimum: int) -> list[list[str]]:
    """The colon-separated fields of each line of /etc/passwd or /etc/group (comments,
    blank and short lines skipped)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            parts = line.split(":")
            if len(parts) >= minimum:
                out.append(parts)
    return out


def parse_passwd(text: str) -> list[PasswdEntry]:
    """Entries of an /etc/passwd text; malformed lines are skipped."""
    out = []
    for parts in _fields(text, 4):
        uid, gid = _int(parts[2]), _int(parts[3])
        if uid is None or gid is None:
            continue
        out.append(PasswdEntry(parts[0], uid, gid, parts[5] if len(parts) > 5 else ""))
    return out


def parse_group(text: str) -> list[GroupEntry]:
    """Entries of an /etc/group text; malformed lines are skipped."""
    out = []
    for parts in _fields(text, 3):
        gid = _int(parts[2])
        if gid is None:
            continue
        members = tuple(m for m in parts[3].split(",") if m) if len(parts) > 3 else ()
        out.append(GroupEntry(parts[0], gid, members))
    return out


@dataclass(frozen=True)
class UserSpec:
    """A user and optional group, each a name or a numeric id ("" user means root)."""

    user: str = ""
    group: str = ""

    @classmethod
    def parse(cls, text: str | None) -> UserSpec:
        """Parse "user", "user:group", "uid:gid" (an empty text means the default user)."""
        text = (text or "").strip()
        user, sep, group = text.partition(":")
        if sep and not group:
            raise InvalidArgument(f"invalid user spec {text!r}: empty group", hint=_HINT)
        if ":" in group:
            raise InvalidArgument(f"invalid user spec {text!r}: too many colons", hint=_HINT)
        for part in (user, group):
            if any(c.isspace() for c in part):
                raise InvalidArgument(f"invalid user spec {text!r}: whitespace", hint=_HINT)
            if part.startswith("-") and _int(part[1:]) is not None:
                raise InvalidArgument(f"invalid user spec {text!r}: uids and gids must be in "
                                      f"range 0-{MAX_ID}", hint=_HINT)
        return cls(user, group)

    def __str__(self) -> str:
        return f"{self.user}:{self.group}" if self.group else self.user

    def resolve(self, passwd_text: str | None, group_text: str | None,
                group_add: Iterable[str] = ()) -> ExecUser:
        """Resolve against /etc/passwd and /etc/group contents (None: the file is missing).

        ``group_add`` are ``--group-add`` values (names or gids) appended to the
        supplementary groups.
        """
        uid, gid, home = 0, 0, "/"
        sgids: list[int] = []
        user_num, group_num = _int(self.user), _int(self.group)
        users = parse_passwd(passwd_text) if passwd_text is not None else []
        if not self.user:
            match = [u for u in users if u.uid == 0]
        elif user_num is not None:
            match = [u for u in users if u.uid == user_num]
        else:
            match = [u for u in users if u.name == self.user]
        matched_name = ""
        if match:
            entry = match[0]
            matched_name, uid, gid, home = entry.name, entry.uid, entry.gid, entry.home or "/"
        elif self.user:
            if user_num is None:
                raise InvalidArgument(
                    f"unable to find user {self.user}: no matching entries in passwd file",
                    hint="use a numeric uid, or a user that exists in the image's /etc/passwd")
            uid = user_num
        if uid > MAX_ID:
            raise InvalidArgument(f"uids and gids must be in range 0-{MAX_ID}", hint=_HINT)
        groups = parse_group(group_text) if group_text is not None else []
        if self.group:
            if group_num is not None:
                gmatch = [g for g in groups if g.gid == group_num]
            else:
                gmatch = [g for g in groups if g.name == self.group]
            if gmatch:
                gid = gmatch[0].gid
            elif group_num is None:
                raise InvalidArgument(
                    f"unable to find group {self.group}: no matching entries in group file",
                    hint="use a numeric gid, or a group that exists in the image's /etc/group")
            else:
                gid = group_num
            if gid > MAX_ID:
                raise InvalidArgument(f"uids and gids must be in range 0-{MAX_ID}", hint=_HINT)
        elif matched_name:
            sgids = [g.gid for g in groups if matched_name in g.members]
        for extra in group_add:
            num = _int(extra)
            if num is None:
                found = [g.gid for g in groups if g.name == extra]
                if not found:
                    raise InvalidArgument(
                        f"Unable to find group {extra}: no matching entries in group file",
                        hint="--group-add takes a gid or a group of the image's /etc/group")
                num = found[0]
            if num > MAX_ID:
                raise InvalidArgument(f"uids and gids must be in range 0-{MAX_ID}", hint=_HINT)
            sgids.append(num)
        return ExecUser(uid, gid, tuple(sgids), home)
