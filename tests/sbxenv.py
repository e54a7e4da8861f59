"""A private sbx store for a test: SBX_ROOT in a temp dir, the busybox image imported as
``bb``, a helper to run the real ``sbx`` command, and a leak check at the end (no mounts,
cgroups or processes left behind)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass
class SbxEnv:
    root: Path
    env: dict[str, str]

    def run(self, *args: str, input: str | bytes | None = None, timeout: float = 60,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        text = not isinstance(input, bytes)
        proc = subprocess.run([sys.executable, "-m", "sbx", *args], env=self.env,
                              input=input, capture_output=True, text=text, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"sbx {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
        return proc

    def ok(self, *args: str, **kw: object) -> str:
        return self.run(*args, check=True, **kw).stdout  # type: ignore[arg-type]

    def remove_all(self) -> None:
        ids = self.run("ps", "-a", "-q", "--no-trunc").stdout.split()
        if ids:
            self.run("rm", "-f", *ids)

    def leaks(self) -> list[str]:
        """Mounts, cgroups and processes of this store that outlived their containers."""
        out = []
        with open("/proc/self/mountinfo") as f:
            for line in f:
                if str(self.root) in line:
                    out.append("mount: " + line.strip())
        ids = {p.name for p in (self.root / "containers").glob("*") if len(p.name) == 64}
        for base in Path("/sys/fs/cgroup").glob("*/sbx"):
            for d in base.iterdir():
                if d.is_dir() and d.name in ids:
                    out.append(f"cgroup: {d}")
        for log in self.root.glob("containers/*/monitor-error.log"):
            out.append(f"monitor error: {log}: {log.read_text()[-2000:]}")
        parents = [Path("/sys/fs/cgroup/sbx")]
        if os.geteuid() != 0:  # a user's containers: in the subtree delegated to it (v2)
            from sbx.cgroups import delegated_root, own_cgroup_v2

            top = delegated_root(Path("/sys/fs/cgroup"), own_cgroup_v2())
            if top is not None:
                parents.append(top / "sbx")
        for parent in parents:
            if parent.is_dir():
                for d in parent.iterdir():
                    if d.is_dir() and d.name in ids:
                        out.append(f"cgroup: {d}")
        return out


def make_env(busybox_tar: Path) -> SbxEnv:
    root = Path(tempfile.mkdtemp(prefix="sbx-", dir="/var/tmp"))
    env = dict(os.environ)
    env["SBX_ROOT"] = str(root)
    env.pop("SBX_RUNROOT", None)
    env["SBX_OFFLINE"] = "1"
    e = SbxEnv(root, env)
    try:
        e.ok("import", str(busybox_tar), "bb:latest")
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)  # a failed set-up leaves no store behind
        raise
    return e


def destroy_env(e: SbxEnv) -> list[str]:
    from sbx.rootless.userns import remove_trees

    e.remove_all()
    leaks = e.leaks()
    remove_trees([e.root])  # rootless: files of the container's ids go from inside U
    if e.root.exists():
        leaks.append(f"store not removable: {e.root}")
    return leaks
