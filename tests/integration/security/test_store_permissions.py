"""Root's store is private, as Docker's /var/lib/docker: another local user can read no
blob (a Debian layer's 0640 /etc/shadow), no image config (env secrets), no container
config, no lock file, and cannot flock the store lock to make root's commands hang.

The ordinary user is ``nobody`` (``setpriv --reuid 65534 --regid 65534 --clear-groups``).
Containers whose processes run as other users still work: their root is the overlay
mount, not a path through the store."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
root_only = pytest.mark.root_only("another user is needed, and only root can become one")


def _as_nobody(code: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NOBODY, sys.executable, "-I", "-c", code, *args],
                          capture_output=True, text=True, timeout=timeout)


_READ = """
import sys
try:
    with open(sys.argv[1], "rb") as f:
        f.read(1)
except PermissionError:
    print("denied")
except Exception as e:
    print("other", type(e).__name__, e)
else:
    print("READ")
"""

_FLOCK = """
import fcntl, os, sys, time
try:
    fd = os.open(sys.argv[1], os.O_RDONLY)
except PermissionError:
    print("denied"); sys.exit(0)
fcntl.flock(fd, fcntl.LOCK_SH)
print("LOCKED", flush=True)
time.sleep(float(sys.argv[2]))
"""


def _as_before(root: Path) -> None:
    """Give the store the modes sbx used to leave (/var/lib/sbx 0755, world-readable
    directories and lock files), as a store made by an older sbx has them."""
    os.chmod(root, 0o755)
    for d in root.iterdir():
        if d.is_dir():
            os.chmod(d, 0o755)
    for f in (root / "locks").iterdir():
        os.chmod(f, 0o644)


def _some(pattern: str, root: Path) -> Path:
    found = sorted(p for p in root.glob(pattern) if p.is_file())
    assert found, f"nothing matches {pattern} in {root}"
    return found[0]


@root_only
def test_another_user_reads_nothing_of_roots_store(sbx):
    sbx.ok("run", "--name", "cfg", "-e", "API_TOKEN=hunter2", "bb", "true")
    sbx.ok("build", "-t", "with-env", "-", input="FROM bb\nENV DB_PASSWORD=s3cret\n")
    cid = sbx.ok("inspect", "-f", "{{.Id}}", "cfg").strip()
    _as_before(sbx.root)
    sbx.ok("ps", "-a")  # any command opens the store, and makes it private
    image = json.loads(sbx.ok("image", "inspect", "with-env"))[0]["Id"].split(":")[-1]
    targets = {
        "blob": _some("blobs/sha256/*", sbx.root),
        "image config": _some(f"images/{image}*", sbx.root),
        "container config": sbx.root / "containers" / cid / "config.json",
        "lock file": sbx.root / "locks" / "store.lock",
        "layer file": _some("layers/*/bin/busybox", sbx.root),
    }
    for what, path in targets.items():
        assert path.exists(), (what, path)
        r = _as_nobody(_READ, str(path))
        assert r.stdout.strip() == "denied", (what, path, r.stdout, r.stderr)
    r = _as_nobody("import os, sys; print(os.listdir(sys.argv[1]))", str(sbx.root))
    assert "PermissionError" in r.stderr, r.stdout


@root_only
def test_another_user_cannot_hold_the_store_lock(sbx):
    lock = sbx.root / "locks" / "store.lock"
    sbx.ok("tag", "bb", "warm:1")  # the lock file exists
    _as_before(sbx.root)
    sbx.ok("ps")
    assert stat.S_IMODE(lock.stat().st_mode) == 0o600
    holder = subprocess.Popen([*NOBODY, sys.executable, "-I", "-c", _FLOCK, str(lock), "20"],
                              stdout=subprocess.PIPE, text=True)
    try:
        first = holder.stdout.readline().strip()  # type: ignore[union-attr]
        assert first == "denied", first
        t0 = time.monotonic()
        sbx.ok("tag", "bb", "while-they-try:1", timeout=20)
        assert time.monotonic() - t0 < 10
    finally:
        holder.kill()
        holder.wait()


@root_only
def test_modes_are_dockers_and_an_old_open_store_is_fixed(sbx):
    root = sbx.root
    sbx.ok("images")
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in root.iterdir() if p.is_dir()}
    assert stat.S_IMODE(root.stat().st_mode) == 0o710
    for name in ("blobs", "images", "layers", "locks", "containers", "tmp", "sandbox"):
        assert modes[name] == 0o700, (name, oct(modes[name]))
    assert modes["volumes"] == 0o701
    _as_before(root)
    sbx.ok("images")  # opening the store fixes it, once
    assert stat.S_IMODE(root.stat().st_mode) == 0o710
    for name in ("blobs", "images", "locks", "containers"):
        assert stat.S_IMODE((root / name).stat().st_mode) == 0o700, name
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in (root / "locks").iterdir())


def test_containers_of_other_users_still_work(sbx):
    assert "bin" in sbx.ok("run", "--rm", "-u", "1000", "bb", "ls", "/").split()
    out = sbx.ok("run", "--rm", "-u", "1000", "-v", "permvol:/data", "bb", "sh", "-c",
                 "ls -ld /data >/dev/null && cat /etc/passwd >/dev/null && echo ok")
    assert out.strip() == "ok"
    cid = sbx.ok("run", "-d", "-u", "65534", "bb", "sleep", "30").strip()
    try:
        assert sbx.ok("exec", cid, "id", "-u").strip() == "65534"
        assert "etc" in sbx.ok("exec", cid, "ls", "/").split()
    finally:
        sbx.run("rm", "-f", cid)


@pytest.mark.rootless_only
def test_a_rootless_store_is_private(sbx):
    sbx.ok("images")
    assert stat.S_IMODE(sbx.root.stat().st_mode) == 0o700
