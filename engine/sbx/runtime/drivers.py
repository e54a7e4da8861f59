"""Which storage driver builds a container's root: ``overlay`` (kernel overlayfs; in
rootless mode mounted inside the user's namespace with ``userxattr``), ``fuse-overlayfs``
(the same layout served by fuse-overlayfs, for kernels that refuse overlayfs in a user
namespace) or ``copy`` (the image's layers copied into the container's directory: no
mount needed, always works).

Root uses overlay.  A rootless store probes once, in that order, what can be mounted in
the user's namespace on the store's file system and keeps the answer in
``<store>/storage-driver.json``.  ``SBX_STORAGE_DRIVER=overlay|fuse-overlayfs|copy``
overrides both.  A container keeps the driver it was created with (``<container>/driver``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sbx.errors import InvalidArgument

DRIVERS = ("overlay", "fuse-overlayfs", "copy")


def _cache(layout: Any) -> Path:
    return Path(layout.root) / "storage-driver.json"


def choose(layout: Any) -> tuple[str, str]:
    """``(driver, why)`` for new containers of this store."""
    env = os.environ.get("SBX_STORAGE_DRIVER", "")
    if env:
        if env not in DRIVERS:
            raise InvalidArgument(f"unknown storage driver {env!r} in SBX_STORAGE_DRIVER",
                                  hint="use overlay, fuse-overlayfs or copy")
        from sbx.rootless.idmap import current

        if env == "fuse-overlayfs" and not current().rootless:
            raise InvalidArgument("the fuse-overlayfs driver is for rootless mode (root uses "
                                  "kernel overlayfs, and containers' cgroups deny /dev/fuse)",
                                  hint="unset SBX_STORAGE_DRIVER, or use copy")
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
    import subprocess

    from sbx import fresh

    r = subprocess.run(fresh.argv("sbx.runtime.drivers:_probe_main", str(root)),
                       capture_output=True, text=True, timeout=60, cwd="/")
    lines = r.stdout.strip().splitlines()
    if lines and lines[-1] in ("overlay", "fuse-overlayfs"):
        return lines[-1], "; ".join(lines[:-1])
    why = "; ".join(lines) or (r.stderr.strip().splitlines() or ["the probe failed"])[-1]
    return "copy", f"neither overlayfs nor fuse-overlayfs can be mounted in the user namespace here: {why}"


def fuse_usable() -> str:
    """"" when fuse-overlayfs can be tried, else why not."""
    import shutil

    if not shutil.which("fuse-overlayfs"):
        return "fuse-overlayfs is not installed"
    if not os.access("/dev/fuse", os.R_OK | os.W_OK):
        return "/dev/fuse is not accessible to this user"
    return ""


def fuse_mount(lower: list[str], upper: str, work: str, target: str) -> None:
    """Mount with fuse-overlayfs (it serves from the background until the mount namespace
    ends, with the container's processes).  Raises KernelError with its message."""
    from sbx.errors import KernelError

    opts = f"lowerdir={':'.join(reversed(lower))},upperdir={upper},workdir={work}"
    import subprocess

    r = subprocess.run(["fuse-overlayfs", "-o", opts, target], capture_output=True, text=True,
                       stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        err = KernelError("mount fuse-overlayfs", 5, target)
        err.message = f"fuse-overlayfs {target}: {(r.stderr.strip().splitlines() or ['failed'])[-1]}"
        raise err


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
            ok = (d / "m" / "f").read_text() == "x"
            syscalls.umount2(str(d / "m"))
            if ok:
                print("overlay")
                return
            print("overlayfs mounted but unreadable")
        except KernelError as e:
            print(f"mount overlay: {os.strerror(e.errno)}")
        why = fuse_usable()
        if why:
            print(why)
            return
        try:
            fuse_mount([str(d / "l")], str(d / "u"), str(d / "w"), str(d / "m"))
            ok = (d / "m" / "f").read_text() == "x"
            syscalls.umount2(str(d / "m"), 2)
            print("fuse-overlayfs" if ok else "fuse-overlayfs mounted but unreadable")
        except KernelError as e:
            print(e.message)
    finally:
        shutil.rmtree(d, ignore_errors=True)
