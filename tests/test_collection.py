"""Every test file on disk is collected: a folder whose name is in pytest's default
``norecursedirs`` (``build``, ``dist``, ``venv``...) would otherwise drop its tests silently."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_test_file_is_collected() -> None:
    on_disk = {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").rglob("test_*.py")
               if "__pycache__" not in p.parts}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "no:randomly", "tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env={**os.environ, "SBX_TESTS_COLLECT_ALL": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    collected = {line.split("::", 1)[0] for line in proc.stdout.splitlines() if "::" in line}
    # (SBX_TESTS_COLLECT_ALL: the other mode's tests are listed too, not deselected)
    missing = sorted(on_disk - collected)
    assert not missing, f"test files pytest does not collect: {missing}"
