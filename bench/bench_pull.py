"""Benchmark: `sbx pull` of a ~180 MB one-layer Debian + redis-server image from a registry on
127.0.0.1 into a cold store, against `skopeo copy` + `tar -x` (the same work done by two
C/Go tools) and, when their daemons answer, `docker pull` and `podman pull`; then a second
pull of an image that shares the layer, and the unpacker's throughput on the layer alone
next to GNU tar.  Prints a markdown table.

    sudo .venv/bin/python bench/bench_pull.py [-n 3]

The image is made once with `sbx bootstrap debian:bookworm --include redis-server` (needs
mmdebstrap and Debian's mirror) and kept as an archive in /var/tmp/sbx-bench-pull.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SBX = [sys.executable, "-m", "sbx"]
WORK = Path("/var/tmp/sbx-bench-pull")
ARCHIVE = WORK / "debian-redis.tar"
NAME = "bench/debian-redis:1"


def env_for(root: Path) -> dict[str, str]:
    env = dict(os.environ, SBX_ROOT=str(root), SBX_OFFLINE="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("SBX_RUNROOT", None)
    return env


def sbx(root: Path, *args: str) -> str:
    r = subprocess.run([*SBX, *args], env=env_for(root), capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"sbx {' '.join(args)} failed: {r.stderr}")
    return r.stdout


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    t = time.perf_counter()
    r = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed: {r.stderr.decode()[-500:]}")
    return dt


def prepare(src: Path) -> None:
    """The source store holds the image (bootstrapped once, then loaded from the archive)."""
    if not ARCHIVE.exists():
        sbx(src, "bootstrap", "debian:bookworm", "--include", "redis-server", "-t", NAME)
        sbx(src, "save", "-o", str(ARCHIVE), NAME)
    else:
        sbx(src, "load", "-i", str(ARCHIVE))


def second_image(src: Path, first: str, second: str) -> None:
    """An image with the same layer and another config (what a second pull should reuse)."""
    from sbx.layout import Layout
    from sbx.oci.image import Image
    from sbx.store import Store

    store = Store(Layout.from_env(src))
    rec = store.resolve(first)
    img = Image.from_json(store.blobs.read(rec.id))
    cfg = img.config
    from dataclasses import replace

    store.commit_image(img.with_config(replace(cfg, cmd=("redis-server",))), [second])


def drop_caches() -> None:
    subprocess.run(["sync"])
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError:
        pass


def daemon_ok(tool: str) -> bool:
    if shutil.which(tool) is None:
        return False
    return subprocess.run([tool, "info"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=20).returncode == 0


def med(xs: list[float]) -> str:
    return f"{statistics.median(xs):.2f} s" if xs else "n/a"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=3)
    args = ap.parse_args()
    from tests.registry_server import start_registry

    WORK.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="run-", dir=WORK))
    reg = start_registry(tmp / "registry")
    try:
        src = tmp / "src"
        prepare(src)
        host = reg.host
        one, two = f"{host}/{NAME}", f"{host}/bench/debian-redis:2"
        sbx(src, "tag", NAME, one)
        second_image(src, NAME, two)
        t_push = timed([*SBX, "push", one], env_for(src))
        sbx(src, "push", two)
        layer_mb = json.loads(sbx(src, "image", "inspect", NAME))[0].get("Size", 0) / 1e6

        cold, second, skopeo, untar, docker, podman = [], [], [], [], [], []
        for i in range(args.n):
            store = tmp / f"pull-{i}"
            drop_caches()
            cold.append(timed([*SBX, "pull", "-q", one], env_for(store)))
            second.append(timed([*SBX, "pull", "-q", two], env_for(store)))
            shutil.rmtree(store)

            d = tmp / f"skopeo-{i}"
            drop_caches()
            skopeo.append(timed(["skopeo", "copy", "--src-tls-verify=false",
                                 f"docker://{one}", f"dir:{d}"]))
            manifest = json.loads((d / "manifest.json").read_text())
            blob = d / manifest["layers"][0]["digest"].split(":", 1)[1]
            out = tmp / f"untar-{i}"
            out.mkdir()
            untar.append(timed(["tar", "-xzf", str(blob), "-C", str(out)]))
            shutil.rmtree(d)
            shutil.rmtree(out)

        for tool, into in (("docker", docker), ("podman", podman)):
            if daemon_ok(tool):
                for _ in range(args.n):
                    subprocess.run([tool, "rmi", "-f", one], capture_output=True)
                    drop_caches()
                    extra = ["--tls-verify=false"] if tool == "podman" else []
                    into.append(timed([tool, "pull", "-q", *extra, one]))
                subprocess.run([tool, "rmi", "-f", one], capture_output=True)

        # the unpacker alone, on the uncompressed layer, vs GNU tar
        from sbx.layers.unpack import unpack
        layer_tar = tmp / "layer.tar"
        import tarfile
        with tarfile.open(ARCHIVE) as archive:
            entry = json.load(archive.extractfile("manifest.json"))[0]  # type: ignore[arg-type]
            with archive.extractfile(entry["Layers"][0]) as f, open(layer_tar, "wb") as out_f:  # type: ignore[union-attr]
                shutil.copyfileobj(f, out_f, 1 << 20)
        ours, gnu = [], []
        for i in range(args.n):
            dest = tmp / f"unpack-{i}"
            drop_caches()
            t = time.perf_counter()
            info = unpack(layer_tar, dest, keep_special_bits=True)
            ours.append(time.perf_counter() - t)
            shutil.rmtree(dest)
            dest.mkdir()
            drop_caches()
            gnu.append(timed(["tar", "-xf", str(layer_tar), "-C", str(dest)]))
            shutil.rmtree(dest)
        tar_mb = info.size / 1e6

        base = [a + b for a, b in zip(skopeo, untar, strict=True)]
        print(f"\nImage: Debian bookworm + redis-server, 1 layer, {layer_mb:.0f} MB unpacked; "
              f"registry on 127.0.0.1; median of {args.n}; page cache dropped before each.\n")
        print("| what | time |\n|---|---|")
        print(f"| sbx pull, cold store | {med(cold)} |")
        print(f"| sbx pull of a second image sharing the layer | {med(second)} |")
        print(f"| skopeo copy (no unpack) | {med(skopeo)} |")
        print(f"| tar -xzf of the layer blob | {med(untar)} |")
        print(f"| skopeo copy + tar -xzf | {med(base)} |")
        print(f"| docker pull | {med(docker)} |")
        print(f"| podman pull | {med(podman)} |")
        print(f"| sbx push (first, gzip) | {t_push:.2f} s |")
        print(f"| sbx unpack of the {tar_mb:.0f} MB layer tar | {med(ours)} "
              f"({tar_mb / statistics.median(ours):.0f} MB/s) |")
        print(f"| GNU tar -x of the same tar | {med(gnu)} "
              f"({tar_mb / statistics.median(gnu):.0f} MB/s) |")
        if base:
            print(f"\nsbx pull / (skopeo copy + tar -x) = "
                  f"{statistics.median(cold) / statistics.median(base):.2f}")
    finally:
        reg.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
