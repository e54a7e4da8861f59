"""open_manager's choice of implementation, name checks, the null manager, file errors."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest
from sbx.cgroups import (
    CgroupFileError,
    CgroupFiles,
    CgroupMode,
    NullCgroupManager,
    Resources,
    V1Manager,
    V2Manager,
    open_manager,
)
from sbx.errors import CgroupError, InvalidArgument

from .conftest import v1_mountinfo


def test_v2_host_gets_the_v2_manager(v2_root: Path) -> None:
    text = f"26 23 0:24 / {v2_root} rw - cgroup2 cgroup2 rw,nsdelegate\n"
    m = open_manager("sbx/x", root=v2_root, mountinfo=text)
    assert isinstance(m, V2Manager)
    assert m.path == v2_root / "sbx/x"


def test_hybrid_host_gets_the_v1_manager(hybrid_tree) -> None:
    root, text = hybrid_tree()
    assert isinstance(open_manager("sbx/x", root=root, mountinfo=text), V1Manager)


def test_no_cgroups_gives_the_null_manager_which_refuses_limits(tmp_path: Path) -> None:
    m = open_manager("sbx/x", root=tmp_path, mountinfo="")
    assert isinstance(m, NullCgroupManager)
    assert (m.version, m.name) == ("none", "sbx/x")
    m.create(Resources())
    m.add_pid(1)
    assert m.pids() == [] and m.procs_files() == [] and not m.oom_killed()
    m.kill_all()
    m.destroy()
    assert m.stats()["memory"] == {"usage": None, "limit": None}
    with pytest.raises(CgroupError) as info:
        m.create(Resources(memory=64 * 1024 * 1024))
    assert "no cgroup file system" in info.value.message


def test_unwritable_v2_root_gives_the_null_manager(tmp_path: Path) -> None:
    m = open_manager("sbx/x", root=tmp_path / "absent", mode=CgroupMode.V2)
    assert isinstance(m, NullCgroupManager)
    assert "not writable" in m.reason


def test_v1_mode_without_hierarchies_is_an_error(tmp_path: Path) -> None:
    text = v1_mountinfo(tmp_path / "elsewhere", [("memory", ("memory",))], unified=False)
    with pytest.raises(CgroupError):
        open_manager("sbx/x", root=tmp_path / "cg", mode=CgroupMode.V1, mountinfo=text)


@pytest.mark.parametrize("name", ["", "/sbx/x", "sbx/../x", "sbx//x", "./x", "sbx/x/",
                                  "a\0b"])
def test_bad_names_are_refused(name: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        open_manager(name, root=tmp_path, mode=CgroupMode.V2)


def test_file_errors_name_the_path_errno_and_a_hint(tmp_path: Path) -> None:
    files = CgroupFiles()
    missing = tmp_path / "memory.max"
    with pytest.raises(CgroupFileError) as info:
        files.write(missing, 5)
    assert info.value.errno == errno.ENOENT
    assert info.value.path == missing
    assert str(missing) in info.value.one_line()
    assert "not enabled" in (info.value.hint or "")
    assert not missing.exists()            # never created, as on cgroupfs
    with pytest.raises(CgroupFileError):
        files.read(missing)
    assert files.read_optional(missing) is None
    files.rmdir(tmp_path / "gone")         # idempotent
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "f").write_text("")
    with pytest.raises(CgroupFileError) as info:
        files.rmdir(tmp_path / "full")
    assert info.value.errno == errno.ENOTEMPTY
