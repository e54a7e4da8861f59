"""Benchmark: `sbx run --rm bb true` from the CLI and through the Python API, side by side
with the `unshare` baseline and (when installed and prepared by ../shared/bench/setup.sh)
crun, runc, podman and docker; plus the memory an idle detached container costs beyond
its own process (the monitor's PSS).  Prints a markdown table.

    sudo .venv/bin/python bench/bench_run.py [-n 30]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SBX = str(ROOT / ".venv" / "bin" / "sbx")
PEER = Path("/var/tmp/peer-bench")
BUNDLE = Path("/var/tmp/anchors/bundle-bb")  # made by ../shared/bench/setup.sh


def timeit(argv: list[str], n: int, env: dict[str, str] | None = None) -> list[float]:
    subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # warm up
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append((time.perf_counter() - t) * 1000)
        if r.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed with {r.returncode}")
    return out


def api_times(n: int, security_opt: tuple[str, ...] = ()) -> list[float]:
    from sbx.engine import Engine
    from sbx.runtime.spec import RunOptions

    eng = Engine.from_env()
    out = []
    opts = RunOptions(command=("true",), auto_remove=True, security_opt=security_opt)
    for i in range(n + 1):
        t = time.perf_counter()
        started = eng.run("bb", opts, attached=True)
        code = started.wait_exit()
        dt = (time.perf_counter() - t) * 1000
        assert code == 0
        if i:
            out.append(dt)
    return out


def seccomp_costs(n: int) -> str:
    """Docker's default profile: the one-time compile (libseccomp), the per-start cache
    lookup (hash + read) and the load in a forked child (one seccomp(2) call)."""
    import tempfile

    from sbx.linux import caps
    from sbx.linux.consts import PR_SET_NO_NEW_PRIVS
    from sbx.linux.seccomp import compile_filter
    from sbx.linux.syscalls import prctl
    from sbx.oci.seccomp import Profile, kernel_version
    from sbx.runtime import seccomp
    from sbx.runtime.spec import ContainerSpec

    uts = os.uname()
    t = time.perf_counter()
    pol = Profile.default().resolve(caps=caps.DOCKER_DEFAULT, machine=uts.machine,
                                    kernel=kernel_version(uts.release))
    filt = compile_filter(pol)
    compile_ms = (time.perf_counter() - t) * 1000
    spec = ContainerSpec(image="bb", image_id="sha256:" + "0" * 64, argv=("true",))
    with tempfile.TemporaryDirectory() as d:
        seccomp.prepare(spec, d)
        lookups = []
        for _ in range(n):
            t = time.perf_counter()
            seccomp.load_file(seccomp.prepare(spec, d))
            lookups.append((time.perf_counter() - t) * 1e6)
    loads = []
    for _ in range(n):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            prctl(PR_SET_NO_NEW_PRIVS, 1)
            t = time.perf_counter()
            filt.load()
            os.write(w, str((time.perf_counter() - t) * 1e6).encode())
            os._exit(0)
        os.close(w)
        loads.append(float(os.read(r, 64)))
        os.close(r)
        os.waitpid(pid, 0)
    return (f"seccomp (Docker's default profile, {len(filt.program) // 8} BPF instructions): compile "
            f"{compile_ms:.0f} ms once (cached); per start: cache lookup median "
            f"{statistics.median(lookups):.0f} us, load in the child median {statistics.median(loads):.0f} us")


def pss_kb(pid: int) -> int:
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith("Pss:"):
                total += int(line.split()[1])
    return total


def monitor_pss() -> tuple[float, float]:
    env = dict(os.environ)
    ids = []
    for _ in range(5):
        ids.append(subprocess.run([SBX, "run", "-d", "bb", "sleep", "300"], env=env,
                                  capture_output=True, text=True, check=True).stdout.strip())
    time.sleep(0.5)
    import json

    pss = []
    for cid in ids:
        doc = json.loads(subprocess.run([SBX, "inspect", cid], capture_output=True, text=True).stdout)[0]
        state = json.loads(Path(doc["HostsPath"]).with_name("state.json").read_text())
        pss.append(pss_kb(state["monitor_pid"]))
    subprocess.run([SBX, "rm", "-f", *ids], stdout=subprocess.DEVNULL)
    return statistics.median(pss) / 1024, max(pss) / 1024


def row(name: str, xs: list[float]) -> str:
    xs = sorted(xs)
    p90 = xs[int(len(xs) * 0.9) - 1]
    return f"| {name} | {statistics.median(xs):.1f} | {p90:.1f} | {len(xs)} |"


def main() -> None:
    global SBX
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--sbx", default=SBX, help="the sbx script to time (a non-editable install, as users have)")
    a = ap.parse_args()
    SBX = a.sbx
    rows = ["| what | median ms | p90 ms | runs |", "|---|---|---|---|"]
    rows.append(row("unshare -mpfnui true", timeit(["unshare", "-m", "-p", "-f", "-n", "-u", "-i", "true"], a.n)))
    rows.append(row("sbx run --rm bb true (CLI)", timeit([SBX, "run", "--rm", "bb", "true"], a.n)))
    rows.append(row("sbx run --rm --network none bb true (CLI)", timeit([SBX, "run", "--rm", "--network", "none", "bb", "true"], a.n)))
    rows.append(row("Engine.run(bb, true) in one process (API)", api_times(a.n)))
    rows.append(row("Engine.run(bb, true), seccomp=unconfined (API)",
                    api_times(a.n, ("seccomp=unconfined",))))
    for tool in ("crun", "runc"):
        if shutil.which(tool) and (BUNDLE / "config.json").exists():
            rows.append(row(f"{tool} run (bundle) busybox true",
                            timeit(["sh", "-c", f"exec {tool} run -b {BUNDLE} x$$"], a.n)))
    if shutil.which("podman") and subprocess.run(["podman", "image", "exists", "bb"]).returncode == 0:
        rows.append(row("podman run --rm --network none bb true", timeit(["podman", "run", "--rm", "--network", "none", "bb", "true"], a.n)))
    if Path("/usr/bin/docker").exists() and subprocess.run(["/usr/bin/docker", "image", "inspect", "bb"],
                                                             capture_output=True).returncode == 0:
        rows.append(row("docker run --rm --network none bb true", timeit(["/usr/bin/docker", "run", "--rm", "--network", "none", "bb", "true"], a.n)))
    med, mx = monitor_pss()
    print("\n".join(rows))
    print(f"\nidle detached container, monitor PSS: median {med:.1f} MiB, max {mx:.1f} MiB (5 containers)")
    print(seccomp_costs(a.n))


if __name__ == "__main__":
    sys.exit(main())
