"""Parse /proc/<pid>/mountinfo (proc(5)) into records; used by tests and clean-up checks."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MountEntry:
    mount_id: int
    parent_id: int
    root: str
    mount_point: str
    options: str
    fstype: str
    source: str
    super_options: str


def _unescape(s: str) -> str:
    return s.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def parse(text: str) -> list[MountEntry]:
    out = []
    for line in text.splitlines():
        if not line.strip():
            continue
        left, _, right = line.partition(" - ")
        f = left.split()
        r = right.split()
        out.append(MountEntry(int(f[0]), int(f[1]), _unescape(f[3]), _unescape(f[4]), f[5],
                              r[0] if r else "", _unescape(r[1]) if len(r) > 1 else "",
                              r[2] if len(r) > 2 else ""))
    return out


def read(pid: int | str = "self") -> list[MountEntry]:
    with open(f"/proc/{pid}/mountinfo") as f:
        return parse(f.read())
