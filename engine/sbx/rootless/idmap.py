"""Id maps for rootless mode (pure logic plus /proc and /etc reads).

With a range in ``/etc/subuid`` and ``/etc/subgid`` and Debian's ``newuidmap`` and
``newgidmap``, the user namespace maps container id 0 to the user and ids 1..N to the
range, so ``apt-get`` (which switches to ``_apt``) and files owned by other users work.
Without them the map is a single id: the user is root in the container and nothing else
exists."""

from __future__ import annotations

import os
from dataclasses import dataclass

SUBUID = "/etc/subuid"
SUBGID = "/etc/subgid"
SETUP_HINT = ("add a range for the user (as root: usermod --add-subuids 100000-165535 "
              "--add-subgids 100000-165535 USER) and install the uidmap package")


@dataclass(frozen=True)
class IdMap:
    """``uid``/``gid`` lines are ``(inside, outside, count)`` as /proc/PID/uid_map wants."""

    uid: tuple[tuple[int, int, int], ...]
    gid: tuple[tuple[int, int, int], ...]
    full: bool
    note: str = ""          # single maps: what is missing and what will not work

    def size(self) -> int:
        return sum(n for _, _, n in self.uid)

    def newidmap_args(self, which: str) -> list[str]:
        lines = self.uid if which == "uid" else self.gid
        return [str(v) for line in lines for v in line]

    @staticmethod
    def proc_text(lines: tuple[tuple[int, int, int], ...]) -> str:
        return "".join(f"{a} {b} {c}\n" for a, b, c in lines)


def parse_ranges(text: str, user: str, uid: int) -> list[tuple[int, int]]:
    """``(start, count)`` ranges of ``user`` (or its numeric id) in subuid/subgid text."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3 or parts[0] not in (user, str(uid)):
            continue
        try:
            start, count = int(parts[1]), int(parts[2])
        except ValueError:
            continue
        if count > 0:
            out.append((start, count))
    return out


def build(uid: int, gid: int, uid_ranges: list[tuple[int, int]],
          gid_ranges: list[tuple[int, int]], *, helpers: bool) -> IdMap:
    """The map for user ``uid``/``gid`` given its subordinate ranges."""
    single = IdMap(((0, uid, 1),), ((0, gid, 1),), full=False)
    if not uid_ranges or not gid_ranges:
        return IdMap(single.uid, single.gid, False,
                     f"no subordinate id range for this user in {SUBUID}/{SUBGID}: only "
                     "uid 0 exists in containers, so files owned by other users and "
                     f"apt-get's switch to _apt fail; {SETUP_HINT}")
    if not helpers:
        return IdMap(single.uid, single.gid, False,
                     "newuidmap/newgidmap are not installed: only uid 0 exists in containers, "
                     "so files owned by other users and apt-get's switch to _apt fail; "
                     "install the uidmap package")

    def lines(own: int, ranges: list[tuple[int, int]]) -> tuple[tuple[int, int, int], ...]:
        out, inside = [(0, own, 1)], 1
        for start, count in ranges:
            out.append((inside, start, count))
            inside += count
        return tuple(out)

    return IdMap(lines(uid, uid_ranges), lines(gid, gid_ranges), True)


def for_user(uid: int, gid: int, user: str) -> IdMap:
    """The map this machine allows for the user."""
    def read(path: str) -> str:
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    import shutil

    helpers = bool(shutil.which("newuidmap") and shutil.which("newgidmap"))
    return build(uid, gid, parse_ranges(read(SUBUID), user, uid),
                 parse_ranges(read(SUBGID), user, gid), helpers=helpers)


def parse_map(text: str) -> tuple[tuple[int, int, int], ...]:
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            out.append((int(parts[0]), int(parts[1]), int(parts[2])))
    return tuple(out)


IDENTITY = ((0, 0, 4294967295),)


@dataclass(frozen=True)
class Mode:
    """Who this process acts for: ``host_uid`` 0 is root mode."""

    host_uid: int
    host_gid: int
    in_userns: bool         # already inside a user namespace (ours, once joined)
    full_map: bool          # (in a user namespace) more than one id is mapped

    @property
    def rootless(self) -> bool:
        return self.host_uid != 0


def host_id(lines: tuple[tuple[int, int, int], ...], inside: int) -> int:
    for a, b, n in lines:
        if a <= inside < a + n:
            return b + (inside - a)
    return 65534


_MODE: Mode | None = None


def current() -> Mode:
    """This process's mode, from /proc/self/uid_map (cached; the namespace of a process
    changes only when it joins ``U``, which resets the cache)."""
    global _MODE
    if _MODE is None:
        try:
            with open("/proc/self/uid_map") as f:
                umap = parse_map(f.read())
            with open("/proc/self/gid_map") as f:
                gmap = parse_map(f.read())
        except OSError:
            umap = gmap = IDENTITY
        if umap == IDENTITY:
            _MODE = Mode(os.geteuid(), os.getegid(), False, False)
        else:
            _MODE = Mode(host_id(umap, os.geteuid()), host_id(gmap, os.getegid()), True,
                         sum(n for _, _, n in umap) > 1)
    return _MODE


def reset() -> None:
    global _MODE
    _MODE = None
