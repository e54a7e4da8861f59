"""An ordinary user gets one clear line, not a traceback (until rootless mode exists)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import sbx

pytestmark = pytest.mark.integration


@pytest.fixture
def public_dir():  # type: ignore[no-untyped-def]
    import tempfile

    d = tempfile.mkdtemp(prefix="sbx-public-", dir="/var/tmp")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


def test_not_root_is_one_clear_line(sbx_module_env, public_dir):  # type: ignore[no-untyped-def]
    tmp_path = public_dir
    python = shutil.which("python3", path="/usr/bin:/bin")
    assert python, "the system python3 is needed to run sbx as another user"
    # a world-readable copy of the engine (the checkout may live under /root)
    pkg = Path(tmp_path) / "pkg"
    shutil.copytree(Path(sbx.__file__).parent, pkg / "sbx")
    for d in (tmp_path, pkg):
        os.chmod(d, 0o755)
    for root, dirs, files in os.walk(pkg):
        for n in dirs:
            os.chmod(os.path.join(root, n), 0o755)
        for n in files:
            os.chmod(os.path.join(root, n), 0o644)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(pkg), "SBX_ROOT": str(sbx_module_env.root),
           "SBX_OFFLINE": "1"}
    r = subprocess.run([shutil.which("runuser", path="/usr/sbin:/sbin:/usr/bin") or "runuser", "-u", "nobody", "--", python, "-m", "sbx", "run", "bb", "true"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 125
    assert "needs root" in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
