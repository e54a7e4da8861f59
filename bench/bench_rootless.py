"""Benchmark: rootless mode beside root mode (issue 6) and rootless podman.

Both modes run the same installed ``sbx`` (a non-editable install into a world-readable
virtualenv made with Debian's python3, as an ordinary user would have it):

1. ``sbx run --rm bb true`` from the CLI, median and p90 over ``-n`` runs, root and user;
   in the same run rootless ``podman run --rm --network none bb true`` when podman is
   installed (its image imported into the user's podman storage).
2. A fresh redis per test through the plugin's code path (start to PONG, removal), root
   and user, when the redis image exists in both stores (scripts/setup.sh makes it).

Run as root; the user (default ``sbx-ci``, as .ci/run makes it, or ``--user``) needs a
range in /etc/subuid and its own store with ``bb`` (``scripts/setup.sh`` as that user).

    sudo .venv/bin/python bench/bench_rootless.py [-n 30] [--user NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path("/var/tmp/sbx-bench-venv")
sys.path.insert(0, str(ROOT / "bench"))
from bench_run import timeit  # noqa: E402 - a sibling script, not a package


def stats(values: list[float]) -> dict[str, float]:
    values = sorted(values)
    return {"median": statistics.median(values), "p90": values[int(0.9 * (len(values) - 1))]}


def inner(n: int) -> dict[str, object]:
    """What one mode measures (runs as root or as the user)."""
    env_has = subprocess.run([str(VENV / "bin" / "sbx"), "images", "-q", "bb"],
                             capture_output=True, text=True).stdout.strip()
    if not env_has:
        raise SystemExit("no bb image in this store: run scripts/setup.sh as this user first")
    out: dict[str, object] = {"cli": stats(timeit([str(VENV / "bin" / "sbx"), "run", "--rm", "bb", "true"], n))}
    import bench_plugin

    if bench_plugin._has_image("sandbox/redis:bookworm") or bench_plugin._has_image("redis:7"):
        ready, removal = bench_plugin.per_container("redis", n)
        out["redis_ready"] = stats([x * 1000 for x in ready])
        out["redis_remove"] = stats([x * 1000 for x in removal])
    if os.geteuid() != 0 and shutil.which("podman"):
        out["podman"] = podman_rootless(n)
    return out


def podman_rootless(n: int) -> dict[str, float] | str:
    have = subprocess.run(["podman", "image", "exists", "localhost/bb"], capture_output=True)
    if have.returncode != 0:
        sys.path.insert(0, str(ROOT))
        from tests.images import write_busybox_rootfs_tar

        tar = Path(os.environ.get("TMPDIR", "/tmp")) / f"bb-{os.getuid()}.tar"
        write_busybox_rootfs_tar(tar)
        r = subprocess.run(["podman", "import", str(tar), "localhost/bb"], capture_output=True, text=True)
        tar.unlink()
        if r.returncode != 0:
            return f"podman import failed: {r.stderr.strip().splitlines()[-1:]}"
    try:
        return stats(timeit(["podman", "run", "--rm", "--network", "none", "localhost/bb", "true"], n))
    except SystemExit as e:
        return str(e)


def ensure_venv() -> None:
    if not (VENV / "bin" / "sbx").exists():
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                    "--force-reinstall", "--no-deps", str(ROOT)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "--disable-pip-version-check",
                    "requests", "filelock", "pytest", "pluggy"], check=True)
    subprocess.run(["chmod", "-R", "a+rX", str(VENV), str(ROOT / "bench"), str(ROOT / "tests"),
                    str(ROOT / "pytest_sandbox")], check=True)


def cell(d: object) -> str:
    if isinstance(d, dict):
        return f"{d['median']:.1f} / {d['p90']:.1f}"
    return str(d) if d else "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--user", default="sbx-ci")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inner:
        print(json.dumps(inner(a.n)))
        return
    if os.geteuid() != 0:
        raise SystemExit("run as root: it measures root mode and switches to --user for rootless")
    ensure_venv()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.pop("SBX_ROOT", None)
    cmd = [str(VENV / "bin" / "python"), str(ROOT / "bench" / "bench_rootless.py"), "--inner", "-n", str(a.n)]
    root = json.loads(subprocess.run(cmd, env=env, capture_output=True, text=True, check=True,
                                     cwd="/").stdout)
    home = Path(os.path.expanduser(f"~{a.user}"))
    user_env = ["env", "-i", f"HOME={home}", "PATH=/usr/local/bin:/usr/bin:/bin", "SBX_OFFLINE=1",
                f"PYTHONPATH={ROOT}"]
    r = subprocess.run(["runuser", "-u", a.user, "--", *user_env, *cmd], capture_output=True,
                       text=True, cwd="/")
    # leave the user as found: end the namespace holders this run started (sbx's, podman's)
    for end in ([str(VENV / "bin" / "sbx"), "system", "migrate"], ["podman", "system", "migrate"]):
        if shutil.which(end[0]):
            subprocess.run(["runuser", "-u", a.user, "--", *user_env, *end], cwd="/",
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        raise SystemExit(f"the rootless half failed:\n{r.stderr[-2000:]}")
    user = json.loads(r.stdout)
    print(f"| `sbx run --rm bb true`, n={a.n} (ms, median / p90) | root | rootless | ratio |")
    print("|---|---|---|---|")
    for key, label in (("cli", "CLI"), ("redis_ready", "fresh redis: start to PONG"),
                       ("redis_remove", "fresh redis: removal")):
        if key in root and key in user:
            ratio = user[key]["median"] / root[key]["median"]
            print(f"| {label} | {cell(root[key])} | {cell(user[key])} | {ratio:.2f}x |")
    if "podman" in user:
        print(f"| rootless podman run --rm --network none bb true | | {cell(user['podman'])} | |")


if __name__ == "__main__":
    main()
