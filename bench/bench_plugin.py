"""Benchmark of the pytest plugin: a fresh service container per test.

1. In process, what one test pays: start to ready (the catalog's readiness check: redis
   PING when a redis image is available, else a busybox TCP echo service polled through
   its published port) and removal, as medians over ``-n`` containers.
2. Whole suites: N tests with ``@pytest.mark.container(...)``, wall time for N = 10 and
   100, with and without ``-n 2`` (pytest-xdist).
3. testcontainers-python + dockerd side by side, when both are installed.

    sudo .venv/bin/python bench/bench_plugin.py [-n 30] [--service redis|echo]

Targets (issue 5): redis start to PONG <= 35 ms median, removal <= 10 ms, 100 fresh-redis
tests <= 6 s wall.  Unset PYTHONDONTWRITEBYTECODE for meaningful numbers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ECHO = 'name="svc", command=["nc", "-ll", "-p", "6379", "-e", "cat"], ports=[6379], wait="port:6379"'


def _has_image(ref: str) -> bool:
    from sbx.engine import Engine

    try:
        Engine.from_env().images.resolve(ref)
        return True
    except Exception:  # noqa: BLE001 - missing image or store
        return False


def marker_args(service: str) -> str:
    return '"redis", name="svc"' if service == "redis" else f'"bb", {ECHO}'


def per_container(service: str, n: int) -> tuple[list[float], list[float]]:
    from sbx.engine import Engine
    from sbx.runtime.spec import Port, RunOptions

    from pytest_sandbox import wait
    from pytest_sandbox.sandbox import Container

    engine = Engine.from_env()
    if service == "redis":
        image, opts = "redis:7", RunOptions(ports=(Port(6379),))
        if not _has_image(image):
            image = "sandbox/redis:bookworm"
        strategy: wait.Strategy = wait.RedisPing(6379)
    else:
        image = "bb"
        opts = RunOptions(command=("nc", "-ll", "-p", "6379", "-e", "cat"), ports=(Port(6379),))
        strategy = wait.Port((6379,))
    ready, removal = [], []
    for _ in range(n + 1):
        t0 = time.perf_counter()
        started = engine.run(image, opts)
        c = Container(engine, engine.get(started.record.id),
                      {p.container_port: p.host_port for p in started.ports}, alias="svc")
        wait.wait_until_ready(strategy, c, 30)
        t1 = time.perf_counter()
        c.remove()
        t2 = time.perf_counter()
        ready.append(t1 - t0)
        removal.append(t2 - t1)
    return ready[1:], removal[1:]   # the first one warms caches


def suite_wall(service: str, count: int, workers: int) -> float:
    with tempfile.TemporaryDirectory(prefix="bench-plugin-") as d:
        Path(d, "test_bench.py").write_text(textwrap.dedent(f"""
            import pytest

            @pytest.mark.container({marker_args(service)})
            @pytest.mark.parametrize("i", range({count}))
            def test_fresh(sandbox, i):
                assert sandbox["svc"].port(6379)
        """))
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", d]
        if workers:
            argv += ["-n", str(workers)]
        t = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True, cwd=d)
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            raise SystemExit(f"suite failed:\n{proc.stdout[-3000:]}")
        return wall


def testcontainers_row(n: int) -> str | None:
    try:
        from testcontainers.redis import RedisContainer  # type: ignore[import-not-found]
    except ImportError:
        return None
    ready, stop = [], []
    for _ in range(n):
        t0 = time.perf_counter()
        c = RedisContainer("redis:7")
        c.start()
        c.get_client().ping()
        t1 = time.perf_counter()
        c.stop()
        ready.append(t1 - t0)
        stop.append(time.perf_counter() - t1)
    return f"| testcontainers + dockerd | {_ms(ready)} | {_ms(stop)} |"


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", type=int, default=30, help="containers for the per-test numbers")
    ap.add_argument("--service", choices=("redis", "echo"), default=None)
    ap.add_argument("--no-suites", action="store_true", help="skip the whole-suite runs")
    args = ap.parse_args()
    service = args.service or ("redis" if _has_image("redis:7") or _has_image("sandbox/redis:bookworm")
                               else "echo")
    print(f"service: {service} ({'redis PING' if service == 'redis' else 'busybox nc echo, port check'})\n")
    ready, removal = per_container(service, args.n)
    print("| per test | start to ready (median) | removal (median) |\n|---|---|---|")
    print(f"| pytest-sandbox | {_ms(ready)} | {_ms(removal)} |")
    row = testcontainers_row(min(args.n, 10))
    if row:
        print(row)
    if args.no_suites:
        return
    print("\n| suite | wall |\n|---|---|")
    for count in (10, 100):
        for workers in (0, 2):
            wall = suite_wall(service, count, workers)
            print(f"| {count} fresh-{service} tests{' -n 2' if workers else ''} | {wall:.2f} s |")


if __name__ == "__main__":
    os.environ.setdefault("SBX_OFFLINE", "1")
    main()
