"""Rootless mode, from the pass that runs as an ordinary user (.ci/run creates one with a
subordinate id range): the user namespace and its id map, ownership on the host, the
store's place, limits refused in one line, and another user's store refused."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.needs import unavailable

pytestmark = [pytest.mark.integration, pytest.mark.rootless_only]


def _subuid_start() -> int:
    import pwd

    user = pwd.getpwuid(os.getuid()).pw_name
    for line in Path("/etc/subuid").read_text().splitlines():
        name, start, _count = line.split(":")
        if name in (user, str(os.getuid())):
            return int(start)
    pytest.fail("the rootless pass needs a subordinate id range for its user in /etc/subuid")


def test_root_inside_is_the_user_outside(sbx):  # type: ignore[no-untyped-def]
    out = sbx.ok("run", "--rm", "bb", "sh", "-c", "id -u; cat /proc/self/uid_map")
    lines = [line.split() for line in out.strip().splitlines()]
    assert lines[0] == ["0"]
    assert lines[1] == ["0", str(os.getuid()), "1"]
    assert lines[2] == ["1", str(_subuid_start()), "65536"]


def test_files_keep_their_owners_through_the_map(sbx, tmp_path):  # type: ignore[no-untyped-def]
    vol = tmp_path / "vol"
    vol.mkdir()
    sbx.ok("run", "--rm", "-v", f"{vol}:/data", "bb", "sh", "-c",
           "echo a > /data/by-root; echo b > /data/by-33; chown 33:33 /data/by-33")
    assert (vol / "by-root").stat().st_uid == os.getuid()
    assert (vol / "by-33").stat().st_uid == _subuid_start() + 32
    # and a process of uid 1000 in the container is that subordinate id on the host
    cid = sbx.ok("run", "-d", "-u", "1000", "bb", "sleep", "30").strip()
    pid = json.loads(sbx.ok("inspect", cid))[0]["State"]["Pid"]
    assert os.stat(f"/proc/{pid}").st_uid == _subuid_start() + 999
    sbx.ok("rm", "-f", cid)


def test_info_says_rootless_and_shows_the_map(sbx):  # type: ignore[no-untyped-def]
    info = json.loads(sbx.ok("info", "--format", "json"))
    assert info["Rootless"] is True
    assert info["IdMap"].startswith(f"0 {os.getuid()} 1, 1 {_subuid_start()} 65536")
    assert "userxattr" in info["StorageDriver"]
    if info["CgroupVersion"] == "none":
        assert info["CgroupNote"]


def test_limits_without_delegation_fail_in_one_line_before_anything_is_made(sbx):  # type: ignore[no-untyped-def]
    info = json.loads(sbx.ok("info", "--format", "json"))
    if info["CgroupVersion"] != "none":  # this user has a delegated cgroup v2 subtree
        sbx.ok("run", "--rm", "-m", "64m", "--pids-limit", "10", "bb", "true")  # limits apply
        return
    for flags in (["-m", "64m"], ["--cpus", "0.5"], ["--pids-limit", "10"]):
        r = sbx.run("run", "--rm", "--name", "limited", *flags, "bb", "true")
        assert r.returncode == 125, r.stderr
        assert "cannot apply resource limits" in r.stderr and "rootless" in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr
    assert sbx.ok("ps", "-a", "-q") == ""
    sbx.ok("run", "--rm", "bb", "true")  # everything else works


def test_the_default_store_is_under_xdg_data_home(busybox_tar, tmp_path):  # type: ignore[no-untyped-def]
    from sbx.rootless.userns import remove_trees

    env = {k: v for k, v in os.environ.items() if k not in ("SBX_ROOT", "SBX_RUNROOT")}
    env["XDG_DATA_HOME"] = str(tmp_path / "data")
    try:
        r = subprocess.run([sys.executable, "-m", "sbx", "import", str(busybox_tar), "bbx"],
                           env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        assert (tmp_path / "data" / "sbx" / "images").is_dir()
        r = subprocess.run([sys.executable, "-m", "sbx", "run", "--rm", "bbx", "true"],
                           env=env, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
    finally:
        remove_trees([tmp_path / "data"])


def test_roots_store_is_refused_in_one_line(sbx):  # type: ignore[no-untyped-def]
    env = dict(sbx.env, SBX_ROOT="/var/lib/sbx")
    if not Path("/var/lib/sbx").exists():
        unavailable("no store of root's on this machine (CI's root pass makes one first)")
    r = subprocess.run([sys.executable, "-m", "sbx", "ps", "-a"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 125
    assert "belongs to another user" in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_one_pause_process_holds_the_users_namespace(sbx):  # type: ignore[no-untyped-def]
    from sbx.rootless.userns import info

    sbx.ok("run", "--rm", "bb", "true")
    rec = info()
    pid = int(rec["pid"])  # type: ignore[call-overload]
    ns = os.readlink(f"/proc/{pid}/ns/user")
    cid = sbx.ok("run", "-d", "bb", "sleep", "30").strip()
    pid1 = json.loads(sbx.ok("inspect", cid))[0]["State"]["Pid"]
    assert os.readlink(f"/proc/{pid1}/ns/user") == ns  # containers live in U
    assert os.readlink("/proc/self/ns/user") != ns       # the caller (pytest) does not
    sbx.ok("rm", "-f", cid)


def test_a_killed_pause_process_is_replaced_inside_the_same_namespace(sbx):  # type: ignore[no-untyped-def]
    import signal
    import time

    from sbx.rootless.userns import info

    cid = sbx.ok("run", "-d", "bb", "sleep", "60").strip()
    old = info()
    os.kill(int(old["pid"]), signal.SIGKILL)  # type: ignore[call-overload]
    for _ in range(100):
        if not Path(f"/proc/{old['pid']}").exists() or \
                Path(f"/proc/{old['pid']}/stat").read_text().split(") ")[1].startswith("Z"):
            break
        time.sleep(0.01)
    assert sbx.ok("exec", cid, "echo", "still reachable") == "still reachable\n"
    new = info()
    assert new["pid"] != old["pid"] and new["ns"] == old["ns"]
    assert os.readlink(f"/proc/{new['pid']}/ns/user") == old["ns"]
    sbx.ok("rm", "-f", cid)


def test_unshare_enters_the_namespace_and_can_remove_what_the_user_cannot(sbx, tmp_path):  # type: ignore[no-untyped-def]
    out = sbx.ok("unshare", "sh", "-c", "id -u; cat /proc/self/uid_map")
    lines = [line.split() for line in out.strip().splitlines()]
    assert lines[0] == ["0"] and lines[1] == ["0", str(os.getuid()), "1"]
    # a tree with files of a subordinate id: the user alone cannot remove it
    vol = tmp_path / "vol"
    vol.mkdir()
    sbx.ok("run", "--rm", "-v", f"{vol}:/data", "bb", "sh", "-c",
           "mkdir -p /data/d && touch /data/d/f && chown -R 33:33 /data/d && chmod 755 /data/d")
    r = subprocess.run(["rm", "-rf", str(vol / "d")], capture_output=True, text=True)
    assert r.returncode != 0 and (vol / "d" / "f").exists()
    sbx.ok("unshare", "rm", "-rf", str(vol / "d"))
    assert not (vol / "d").exists()
    r = sbx.run("unshare", "no-such-command")
    assert r.returncode == 127 and "command not found" in r.stderr
