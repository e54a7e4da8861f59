"""The other storage drivers (``SBX_STORAGE_DRIVER``): ``copy`` (the fallback that always
works) and ``fuse-overlayfs`` (for kernels that refuse overlayfs in a user namespace):
containers, exec, export and builds whose RUN steps delete, add and chown, with nothing
mounted afterwards.  Kernel overlayfs is what every other integration test uses."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.sbxenv import destroy_env, make_env

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", params=[
    "copy", pytest.param("fuse-overlayfs", marks=pytest.mark.rootless_only)])
def copy_env(request, busybox_tar):  # type: ignore[no-untyped-def]
    from sbx.runtime.drivers import fuse_usable

    if request.param == "fuse-overlayfs" and fuse_usable():
        pytest.fail(f"fuse-overlayfs cannot be used here: {fuse_usable()} "
                    "(install fuse-overlayfs; /dev/fuse must be usable, mode 0666 as on Debian)")
    env = make_env(busybox_tar)
    env.env["SBX_STORAGE_DRIVER"] = request.param
    env.driver = request.param  # type: ignore[attr-defined]
    yield env
    leaks = destroy_env(env)
    assert not leaks, f"left behind: {leaks}"


def test_info_names_the_driver(copy_env):  # type: ignore[no-untyped-def]
    info = json.loads(copy_env.ok("info", "--format", "json"))
    assert info["StorageDriver"].startswith(copy_env.driver)


def test_containers_run_on_a_copy_of_the_image(copy_env, tmp_path: Path):  # type: ignore[no-untyped-def]
    out = copy_env.ok("run", "--rm", "bb", "sh", "-c", "echo hi; ls /bin/sh; grep ' / ' /proc/mounts")
    assert out.startswith("hi\n/bin/sh\n")
    if copy_env.driver == "copy":
        assert "overlay" not in out
    else:
        assert "fuse-overlayfs" in out
    cid = copy_env.ok("run", "-d", "--name", "c1", "bb", "sleep", "100").strip()
    copy_env.ok("exec", "c1", "sh", "-c", "echo data > /tmp/made; rm /bin/ls")
    copy_env.ok("export", "-o", str(tmp_path / "c1.tar"), "c1")
    names = subprocess.run(["tar", "-tf", str(tmp_path / "c1.tar")], capture_output=True,
                           text=True, check=True).stdout.split()
    assert "tmp/made" in names and "bin/ls" not in names and "bin/sh" in names
    copy_env.ok("stop", "-t", "0", "c1")
    copy_env.ok("start", "c1")
    assert copy_env.ok("exec", "c1", "cat", "/tmp/made") == "data\n"   # the copy is kept
    copy_env.ok("rm", "-f", cid)
    assert not (copy_env.root / "containers" / cid).exists()


def test_builds_record_only_what_run_changed(copy_env, tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "Dockerfile").write_text(
        "FROM bb\n"
        "RUN rm /bin/ls && echo new > /etc/newfile && mkdir /data && chown 33:33 /data\n"
        "RUN test ! -e /bin/ls && test -f /etc/newfile\n")
    copy_env.ok("build", "-q", "--no-cache", "-t", "copied", str(tmp_path))
    out = copy_env.ok("run", "--rm", "copied", "sh", "-c",
                      "stat -c '%u %g' /data; cat /etc/newfile; test ! -e /bin/ls && echo gone")
    assert out == "33 33\nnew\ngone\n"
    # the RUN layer holds the changes, not a second copy of the image
    rootfs = json.loads(copy_env.ok("inspect", "copied"))[0]["RootFS"]["Layers"]
    assert len(rootfs) == 2
    layer_dir = copy_env.root / "layers" / rootfs[1].split(":")[1]
    files = sorted(str(p.relative_to(layer_dir)) for p in layer_dir.rglob("*"))
    assert "etc/newfile" in files and "data" in files
    assert "bin/sh" not in files
