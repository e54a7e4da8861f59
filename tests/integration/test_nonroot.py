"""Other users, seen from root's pass: an ordinary user without a subordinate id range
(``nobody``) gets rootless mode with a single-id map, and cannot touch root's store."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest
import sbx

pytestmark = [pytest.mark.integration,
              pytest.mark.root_only("switches to another user with runuser")]

RUNUSER = shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin") or "runuser"


@pytest.fixture
def public_dir():  # type: ignore[no-untyped-def]
    import tempfile

    d = Path(tempfile.mkdtemp(prefix="sbx-public-", dir="/var/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _engine_copy(public_dir: Path) -> Path:
    """A world-readable copy of the engine (the checkout may live under /root)."""
    pkg = public_dir / "pkg"
    import filelock

    for mod in (sbx, filelock):  # the engine and the one dependency the store needs
        shutil.copytree(Path(mod.__file__).parent, pkg / mod.__name__,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for root, _dirs, files in os.walk(pkg):
        os.chmod(root, 0o755)
        for n in files:
            os.chmod(os.path.join(root, n), 0o644)
    return pkg


def _as_nobody(pkg: Path, *args: str, root: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    python = shutil.which("python3", path="/usr/bin:/bin")
    assert python, "the system python3 is needed to run sbx as another user"
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "PYTHONPATH": str(pkg), "SBX_ROOT": root,
           "SBX_OFFLINE": "1", "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/nonexistent"}
    return subprocess.run([RUNUSER, "-u", "nobody", "--", python, "-m", "sbx", *args],
                          env=env, capture_output=True, text=True, timeout=timeout, cwd="/")


def _stop_pause(uid: int) -> None:
    """End the user namespace holder this test made for ``nobody`` (by its recorded pid)."""
    rec = Path(f"/tmp/sbx-run-{uid}/userns.json")
    try:
        pid = json.loads(rec.read_text())["pid"]
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, KeyError):
        pass
    shutil.rmtree(rec.parent, ignore_errors=True)


def test_another_users_store_is_refused_in_one_line(sbx_module_env, public_dir):  # type: ignore[no-untyped-def]
    pkg = _engine_copy(public_dir)
    r = _as_nobody(pkg, "run", "bb", "true", root=str(sbx_module_env.root))
    assert r.returncode == 125
    assert "belongs to another user" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not list((sbx_module_env.root / "containers").glob("*")), "nothing was written"


def test_a_user_without_subuids_gets_a_single_id_map(busybox_tar, public_dir):  # type: ignore[no-untyped-def]
    nobody = 65534
    pkg = _engine_copy(public_dir)
    store = public_dir / "store"
    store.mkdir()
    os.chown(store, nobody, nobody)
    shutil.copy(busybox_tar, public_dir / "bb.tar")
    os.chmod(public_dir / "bb.tar", 0o644)
    try:
        r = _as_nobody(pkg, "import", str(public_dir / "bb.tar"), "bb", root=str(store))
        assert r.returncode == 0, r.stderr
        r = _as_nobody(pkg, "run", "--rm", "bb", "sh", "-c", "id -u; cat /proc/self/uid_map",
                       root=str(store))
        assert r.returncode == 0, r.stderr
        lines = r.stdout.split()
        assert lines[0] == "0" and lines[1:] == ["0", str(nobody), "1"]
        info = _as_nobody(pkg, "info", root=str(store))
        assert "Rootless: true" in info.stdout
        assert "no subordinate id range" in info.stdout
        # another id than 0 does not exist in the container: one clear line
        r = _as_nobody(pkg, "run", "--rm", "-u", "33", "bb", "true", root=str(store))
        assert r.returncode != 0 and "Traceback" not in r.stderr
        # a build that needs another id says why it failed and what to do
        ctx = public_dir / "ctx"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text("FROM bb\nRUN touch /x && chown 33:33 /x\n")
        os.chmod(ctx, 0o755)
        os.chmod(ctx / "Dockerfile", 0o644)
        r = _as_nobody(pkg, "build", "-t", "needs-ids", str(ctx), root=str(store))
        assert r.returncode != 0 and "Traceback" not in r.stderr
        last = r.stderr.strip().splitlines()[-1]
        assert "returned a non-zero code" in last
        assert "rootless without subordinate ids" in last and "usermod --add-subuids" in last
    finally:
        _stop_pause(nobody)
        subprocess.run([RUNUSER, "-u", "nobody", "--", "rm", "-rf", str(store)], check=False)
