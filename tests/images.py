"""Test images made locally: a busybox-static root filesystem as a tar (no registry)."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


def busybox_path() -> str | None:
    """The static busybox from Debian's busybox-static, or None."""
    for p in _CANDIDATES:
        if Path(p).exists():
            out = subprocess.run(["file", "-L", p], capture_output=True, text=True).stdout \
                if shutil.which("file") else "statically linked"
            if "dynamically" not in out:
                return p
    return None


def _applets(busybox: str) -> list[str]:
    out = subprocess.run([busybox, "--list-full"], capture_output=True, text=True, check=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def write_busybox_rootfs_tar(dest: Path, *, extra: dict[str, bytes] | None = None) -> Path:
    """Write a rootfs tar: /bin/busybox, applet symlinks, /etc/passwd, /etc/group, /tmp."""
    busybox = busybox_path()
    if busybox is None:
        raise RuntimeError("busybox-static is not installed (apt-get install busybox-static)")
    now = int(time.time())
    with tarfile.open(dest, "w") as tar:
        def add_dir(name: str, mode: int = 0o755) -> None:
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.DIRTYPE
            ti.mode = mode
            ti.mtime = now
            tar.addfile(ti)

        def add_file(name: str, data: bytes, mode: int = 0o644) -> None:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mode = mode
            ti.mtime = now
            tar.addfile(ti, io.BytesIO(data))

        for d in ("bin", "sbin", "usr", "usr/bin", "usr/sbin", "etc", "root", "home", "var",
                  "dev", "proc", "sys"):
            add_dir(d)
        add_dir("tmp", 0o1777)
        add_dir("var/tmp", 0o1777)
        with open(busybox, "rb") as f:
            add_file("bin/busybox", f.read(), 0o755)
        seen = {"bin/busybox"}
        for applet in _applets(busybox):
            name = applet.lstrip("/")
            if name in seen:
                continue
            seen.add(name)
            ti = tarfile.TarInfo(name)
            ti.type = tarfile.SYMTYPE
            ti.linkname = "/bin/busybox"
            ti.mtime = now
            tar.addfile(ti)
        add_file("etc/passwd", b"root:x:0:0:root:/root:/bin/sh\n"
                 b"daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
                 b"nobody:x:65534:65534:nobody:/home:/bin/false\n")
        add_file("etc/group", b"root:x:0:\ndaemon:x:1:\nnogroup:x:65534:\n")
        for name, data in (extra or {}).items():
            add_file(name, data, 0o755)
    return dest
