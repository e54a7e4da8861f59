"""Rootless id maps and the one-line errors of a user namespace that cannot be made."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest
from sbx.rootless import idmap, userns

SUBUID = """# comment
alice:100000:65536
bob:165536:65536
1003:231072:65536
"""


def test_ranges_by_name_or_uid() -> None:
    assert idmap.parse_ranges(SUBUID, "alice", 1001) == [(100000, 65536)]
    assert idmap.parse_ranges(SUBUID, "carol", 1003) == [(231072, 65536)]
    assert idmap.parse_ranges(SUBUID, "dave", 1004) == []


def test_full_map_puts_the_user_at_zero_and_the_range_after() -> None:
    m = idmap.build(1001, 1001, [(100000, 65536)], [(100000, 65536)], helpers=True)
    assert m.full and m.uid == ((0, 1001, 1), (1, 100000, 65536))
    assert m.newidmap_args("uid") == ["0", "1001", "1", "1", "100000", "65536"]


def test_single_map_says_what_is_missing_and_what_to_do() -> None:
    m = idmap.build(1001, 1001, [], [], helpers=True)
    assert not m.full and m.uid == ((0, 1001, 1),)
    assert "/etc/subuid" in m.note and "usermod --add-subuids" in m.note and "_apt" in m.note
    m = idmap.build(1001, 1001, [(100000, 65536)], [(100000, 65536)], helpers=False)
    assert not m.full and "uidmap" in m.note


def test_host_id_through_a_map() -> None:
    lines = ((0, 1001, 1), (1, 100000, 65536))
    assert idmap.host_id(lines, 0) == 1001 and idmap.host_id(lines, 33) == 100032
    assert idmap.host_id(lines, 70000) == 65534


@pytest.mark.rootless_only
def test_disabled_user_namespaces_are_one_clear_error(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # a stand-in interpreter that answers as the pause process does when unshare is refused
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho 'unshare(CLONE_NEWUSER): Operation not permitted'\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sys, "executable", str(fake))
    with pytest.raises(userns.UsernsUnavailable) as info:
        userns._create(tmp_path)
    line = info.value.one_line()
    assert "cannot create a user namespace: unshare(CLONE_NEWUSER): Operation not permitted" in line
    assert "max_user_namespaces" in line and "apparmor_restrict_unprivileged_userns" in line
