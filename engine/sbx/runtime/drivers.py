"""Which storage driver builds a container's root: ``overlay`` (kernel overlayfs; in
rootless mode mounted inside the user's namespace with ``userxattr``) or ``copy`` (the
image's layers copied into the container's directory: no mount needed, always works).

Root uses overlay.  A rootless store probes once whether overlay can be mounted in the
user's namespace on the store's file system and keeps the answer in
``<store>/storage-driver.json``.  ``SBX_STORAGE_DRIVER=overlay|copy`` overrides both.
A container keeps the driver it was created with (``<container>/driver``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from sbx.errors import InvalidArgument

DRIVERS = ("overlay", "copy")


def _cache(layout: Any) -> Path:
    return Path(layout.root) / "storage-driver.json"


def choose(layout: Any) -> tuple[str, str]:
    """``(driver, why)`` for new containers of this store."""
    env = os.environ.get("SBX_STORAGE_DRIVER", "")
    if env:
        if env not in DRIVERS:
            raise InvalidArgument(f"unknown storage driver {env!r} in SBX_STORAGE_DRIVER",
                                  hint="use overlay or copy")
        return env, "SBX_STORAGE_DRIVER"
    from sbx.rootless.idmap import current

    if not current().rootless:
        return "overlay", ""
    from sbx import atomic

    try:
        rec = atomic.read_json(_cache(layout))
        return str(rec["driver"]), str(rec.get("reason", ""))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    driver, reason = probe(Path(layout.root))
    Path(layout.root).mkdir(parents=True, exist_ok=True)
    atomic.write_json(_cache(layout), {"driver": driver, "reason": reason})
    return driver, reason


def probe(root: Path) -> tuple[str, str]:
    """Mount a tiny overlay inside the user's namespace on ``root``'s file system (in a
    fresh helper: it joins the namespace and a private mount namespace, so it works from
    threaded callers too)."""
    pkg_parent = str(Path(__file__).resolve().parents[2])
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from sbx.runtime.drivers import _probe_main; _probe_main(sys.argv[2])")
    r = subprocess.run([sys.executable, "-S", "-E", "-s", "-c", code, pkg_parent, str(root)],
                       capture_output=True, text=True, timeout=60, cwd="/")
    answer = r.stdout.strip()
    if r.returncode == 0 and answer == "overlay":
        return "overlay", ""
    why = answer or r.stderr.strip().splitlines()[-1:] and r.stderr.strip().splitlines()[-1] or "the probe failed"
    return "copy", f"overlayfs cannot be mounted in the user namespace here: {why}"


def _probe_main(root: str) -> None:
    import shutil
    import tempfile

    from sbx.errors import KernelError
    from sbx.linux import syscalls
    from sbx.linux.consts import CLONE_NEWNS, MS_PRIVATE, MS_REC
    from sbx.rootless.userns import join

    join()
    syscalls.unshare(CLONE_NEWNS)
    syscalls.mount(None, "/", None, MS_REC | MS_PRIVATE)
    tmp = Path(root) / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    d = Path(tempfile.mkdtemp(prefix="overlay-probe-", dir=tmp))
    try:
        for sub in ("l", "u", "w", "m"):
            (d / sub).mkdir()
        (d / "l" / "f").write_text("x")
        try:
            syscalls.mount("overlay", str(d / "m"), "overlay", 0,
                           f"lowerdir={d / 'l'},upperdir={d / 'u'},workdir={d / 'w'},userxattr")
        except KernelError as e:
            print(f"mount overlay: {os.strerror(e.errno)}")
            return
        ok = (d / "m" / "f").read_text() == "x"
        syscalls.umount2(str(d / "m"))
        print("overlay" if ok else "overlay mounted but unreadable")
    finally:
        shutil.rmtree(d, ignore_errors=True)
