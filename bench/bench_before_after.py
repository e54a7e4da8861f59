"""Benchmark: this checkout against an older revision of sbx, interleaved round by round
(each round a fresh interpreter per version, the same store): the median of N
``Engine.run(bb, true)`` and of M fresh ``sandbox/redis:bookworm`` start-to-PONG (the
plugin's redis wait).  Prints a markdown table.

    sudo .venv/bin/python bench/bench_before_after.py --before 3f9be95 [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ONE = r'''
import statistics, sys, time
src, kind, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path[:0] = [src + "/engine", src]
from sbx.engine import Engine
from sbx.runtime.spec import Port, RunOptions
eng = Engine.from_env()
out = []
for i in range(n + 1):
    t = time.perf_counter()
    if kind == "true":
        s = eng.run("bb", RunOptions(command=("true",), auto_remove=True), attached=True)
        assert s.wait_exit() == 0
    else:
        from pytest_sandbox import wait
        from pytest_sandbox.sandbox import Container
        s = eng.run("sandbox/redis:bookworm", RunOptions(ports=(Port(6379),)))
        c = Container(eng, eng.get(s.record.id), {p.container_port: p.host_port for p in s.ports},
                      alias="svc")
        wait.wait_until_ready(wait.RedisPing(6379), c, 30)
    if i:
        out.append((time.perf_counter() - t) * 1000)
    if kind != "true":
        c.remove()
print(statistics.median(out))
'''


def median_of(src: Path, kind: str, n: int) -> float:
    r = subprocess.run([sys.executable, "-c", ONE, str(src), kind, str(n)], capture_output=True,
                       text=True, check=True)
    return float(r.stdout.split()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", required=True, help="the older revision (a git commit)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("-n", type=int, default=15, help="runs of bb true per round")
    ap.add_argument("-m", type=int, default=5, help="fresh redis per round")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="sbx-before-") as d:
        old = Path(d) / "tree"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "-f", "-q", str(old),
                        args.before], check=True)
        try:
            rows = []
            for r in range(1, args.rounds + 1):
                cells = [median_of(v, k, args.n if k == "true" else args.m)
                         for k in ("true", "redis") for v in (old, ROOT)]
                rows.append((r, *cells))
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(old)])
    print(f"| round | `Engine.run(bb, true)` {args.before} / now | redis start-to-PONG {args.before} / now |")
    print("|---|---|---|")
    for r, t0, t1, r0, r1 in rows:
        print(f"| {r} | {t0:.1f} / {t1:.1f} ms | {r0:.1f} / {r1:.1f} ms |")
    med = [statistics.median(col) for col in zip(*[row[1:] for row in rows], strict=True)]
    print(f"| median | {med[0]:.1f} / {med[1]:.1f} ms | {med[2]:.1f} / {med[3]:.1f} ms |")


if __name__ == "__main__":
    main()
