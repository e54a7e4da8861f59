"""The C probes of ``probes/`` (an attacker's tools inside a container), compiled static
once per test module and bound read-only into the busybox image.  ``syscalls`` makes one
raw syscall per named probe (no libc wrapper second-guessing it) and prints
``name=<errno>`` (0: it succeeded): :func:`results` reads that."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.needs import need, unavailable

PROBES = Path(__file__).parent / "probes"


def build(name: str, directory: Path) -> Path:
    """``probes/<name>.c`` -> ``directory/<name>`` (static)."""
    gcc = shutil.which("gcc")
    need("gcc", gcc)
    out = directory / name
    r = subprocess.run([str(gcc), "-static", "-O2", "-o", str(out), str(PROBES / f"{name}.c")],
                       capture_output=True, text=True)
    if r.returncode != 0:
        unavailable(f"gcc -static failed (libc6-dev?): {r.stderr[-300:]}")
    directory.chmod(0o755)
    return out


def results(text: str) -> dict[str, int]:
    """``name=<errno>`` lines -> {name: errno}."""
    out = {}
    for line in text.splitlines():
        k, sep, v = line.partition("=")
        if sep and v.lstrip("-").isdigit():
            out[k] = int(v)
    return out
