"""``sbx bootstrap`` for real: mmdebstrap against Debian's mirror (the one test that uses it).

Takes 20-60 s.  The image lives only in the test's private store; nothing is cached
elsewhere.
"""

from __future__ import annotations

import shutil

import pytest

from tests.needs import need
from tests.sbxenv import SbxEnv

pytestmark = pytest.mark.integration


def test_bootstrap_debian_minbase_then_run_it(sbx: SbxEnv) -> None:
    need("mmdebstrap", shutil.which("mmdebstrap") or shutil.which("debootstrap"))
    r = sbx.run("bootstrap", "debian:bookworm", "--variant", "minbase", "-t", "test/debian:bookworm",
                timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Bootstrapping debian bookworm (minbase)" in r.stderr
    image_id = r.stdout.strip()
    assert image_id.startswith("sha256:")
    try:
        version = sbx.ok("run", "--rm", "test/debian:bookworm", "cat", "/etc/debian_version")
        assert version.strip().startswith("12")
        cmd = sbx.ok("image", "inspect", "--format", "{{json .Config.Cmd}}", "test/debian:bookworm")
        assert cmd.strip() == '["bash"]'
        assert sbx.ok("run", "--rm", "test/debian:bookworm", "sh", "-c", "echo $PATH").strip() == \
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        layers = sbx.ok("image", "inspect", "--format", "{{len .RootFS.Layers}}", "test/debian:bookworm")
        assert layers.strip() == "1"
    finally:
        sbx.run("rmi", "test/debian:bookworm")
