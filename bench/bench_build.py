"""Benchmark: `sbx build` from the CLI, cold and cache hit, for the seed-sized Dockerfile
(FROM bb; RUN echo hi > /x; CMD ["cat","/x"]) and the 10-step Dockerfile of
../shared/bench/dockerfile10/, side by side with docker (classic and BuildKit), podman and
buildah when they are installed and have the `bb` image (../shared/bench/setup.sh).
"Cold" is `--no-cache` (no step cache; the base image is local); "cache hit" is the same
build again.  Prints a markdown table.

    sudo .venv/bin/python bench/bench_build.py [-n 20] [--no-peers] [--network host]

Unset PYTHONDONTWRITEBYTECODE first: without cached bytecode every CLI start compiles.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SBX = str(ROOT / ".venv" / "bin" / "sbx")
TEN = Path("/work/shared/bench/dockerfile10")
SEED = 'FROM bb\nRUN echo hi > /x\nCMD ["cat","/x"]\n'


def timeit(argv: list[str], n: int, env: dict[str, str] | None = None) -> list[float]:
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm up
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        out.append((time.perf_counter() - t) * 1000)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed with {r.returncode}: {r.stderr.decode()[-500:]}")
    return out


def row(name: str, xs: list[float]) -> str:
    xs = sorted(xs)
    p90 = xs[max(0, int(len(xs) * 0.9) - 1)]
    return f"| {name} | {statistics.median(xs):.0f} | {p90:.0f} | {len(xs)} |"


def contexts(work: Path) -> dict[str, Path]:
    seed = work / "seed"
    seed.mkdir()
    (seed / "Dockerfile").write_text(SEED)
    ten = work / "ten"
    shutil.copytree(TEN, ten)
    for p in ten.iterdir():
        p.chmod(0o755)
    subprocess.run(["sh", str(ten / "make-context.sh")], check=True)
    return {"seed": seed, "10-step": ten}


def peers(ctx: Path, tag: str) -> dict[str, tuple[list[str], list[str], dict[str, str] | None]]:
    """tool -> (cold argv, hit argv, env)."""
    out: dict[str, tuple[list[str], list[str], dict[str, str] | None]] = {}
    docker = "/usr/bin/docker"
    if Path(docker).exists() and subprocess.run([docker, "image", "inspect", "bb"],
                                                capture_output=True).returncode == 0:
        for name, kit in (("docker classic", "0"), ("docker BuildKit", "1")):
            env = dict(os.environ, DOCKER_BUILDKIT=kit)
            out[name] = ([docker, "build", "--no-cache", "-q", "-t", tag, str(ctx)],
                         [docker, "build", "-q", "-t", tag, str(ctx)], env)
    if shutil.which("podman") and subprocess.run(["podman", "image", "exists", "bb"]).returncode == 0:
        out["podman"] = (["podman", "build", "--no-cache", "-q", "-t", tag, str(ctx)],
                         ["podman", "build", "-q", "-t", tag, str(ctx)], None)
    if shutil.which("buildah") and subprocess.run(["buildah", "inspect", "bb"], capture_output=True).returncode == 0:
        out["buildah"] = (["buildah", "bud", "--layers", "--no-cache", "-q", "-t", tag, str(ctx)],
                          ["buildah", "bud", "--layers", "-q", "-t", tag, str(ctx)], None)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=20)
    ap.add_argument("--sbx", default=SBX)
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--network", default="default",
                    help="the RUN steps' network for sbx (default: own namespace + NAT; host: "
                         "the host's, as before builds had their own)")
    a = ap.parse_args()
    rows = ["| what | median ms | p90 ms | runs |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="bench-build-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        env = dict(os.environ)
        if "SBX_ROOT" not in env:  # a private store with bb, as the tests make it
            sys.path.insert(0, str(ROOT))
            from tests.images import write_busybox_rootfs_tar

            env["SBX_ROOT"] = str(work / "store")
            write_busybox_rootfs_tar(work / "bb.tar")
            subprocess.run([a.sbx, "import", str(work / "bb.tar"), "bb"], env=env, check=True,
                           stdout=subprocess.DEVNULL)
        for name, ctx in contexts(work).items():
            tag = f"bench-build-{name.replace('-', '')}"
            net = ["--network", a.network]
            rows.append(row(f"sbx build {name}, cold (--no-cache, --network {a.network})",
                            timeit([a.sbx, "build", *net, "--no-cache", "-q", "-t", tag, str(ctx)],
                                   a.n, env)))
            rows.append(row(f"sbx build {name}, cache hit",
                            timeit([a.sbx, "build", "-q", "-t", tag, str(ctx)], a.n, env)))
            if a.no_peers:
                continue
            for tool, (cold, hit, penv) in peers(ctx, tag).items():
                n = max(3, a.n // 4)
                rows.append(row(f"{tool} {name}, cold", timeit(cold, n, penv)))
                rows.append(row(f"{tool} {name}, cache hit", timeit(hit, n, penv)))
        subprocess.run([a.sbx, "system", "prune", "-f"], env=env, stdout=subprocess.DEVNULL)
    print("\n".join(rows))


if __name__ == "__main__":
    sys.exit(main())
