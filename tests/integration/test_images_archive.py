"""``sbx save``/``load``/``export`` for real, with skopeo and umoci on the other side.

Interop both ways: what skopeo (docker-archive: and oci-archive:) and umoci write loads
and runs in sbx; what ``sbx save`` writes is read by ``skopeo inspect``/``copy`` and
unpacked by ``umoci``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.needs import need
from tests.sbxenv import SbxEnv

pytestmark = pytest.mark.integration


def stored(env: SbxEnv) -> set[str]:
    return {p.name for p in (env.root / "images").glob("*.json")} | \
        {p.name for p in (env.root / "layers").iterdir()}


def test_save_load_round_trip_runs(sbx: SbxEnv, tmp_path: Path) -> None:
    sbx.ok("tag", "bb", "saved/app:1.0")
    archive = tmp_path / "app.tar"
    sbx.ok("save", "-o", str(archive), "saved/app:1.0")
    with tarfile.open(archive) as tar:
        names = set(tar.getnames())
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert {"manifest.json", "index.json", "oci-layout", "repositories"} <= names
    assert manifest[0]["RepoTags"] == ["saved/app:1.0"]
    sbx.ok("rmi", "saved/app:1.0")
    out = sbx.ok("load", "-i", str(archive))
    assert out.strip() == "Loaded image: saved/app:1.0"
    assert sbx.ok("run", "--rm", "saved/app:1.0", "echo", "round-trip").strip() == "round-trip"
    again = sbx.ok("load", "-i", str(archive))  # idempotent
    assert "Loaded image: saved/app:1.0" in again


def test_save_to_stdout_and_load_from_stdin(sbx: SbxEnv) -> None:
    data = subprocess.run([*_sbx(sbx), "save", "bb"], env=sbx.env, capture_output=True,
                          check=True).stdout
    r = sbx.run("load", input=data)
    assert r.returncode == 0 and b"Loaded image: bb:latest" in r.stdout  # type: ignore[operator]


def _sbx(env: SbxEnv) -> list[str]:
    import sys

    return [sys.executable, "-m", "sbx"]


def test_skopeo_reads_what_sbx_saves_and_sbx_runs_what_skopeo_writes(sbx: SbxEnv,
                                                                     tmp_path: Path) -> None:
    need("skopeo")
    archive = tmp_path / "bb.tar"
    sbx.ok("save", "-o", str(archive), "bb")
    info = json.loads(subprocess.run(["skopeo", "inspect", f"docker-archive:{archive}"],
                                     capture_output=True, text=True, check=True).stdout)
    assert len(info["Layers"]) == 1
    subprocess.run(["skopeo", "inspect", f"oci-archive:{archive}"], capture_output=True, check=True)
    dock = tmp_path / "skopeo-docker.tar"
    oci = tmp_path / "skopeo-oci.tar"
    subprocess.run(["skopeo", "copy", f"docker-archive:{archive}",
                    f"docker-archive:{dock}:skopeo/docker:1"], capture_output=True, check=True)
    subprocess.run(["skopeo", "copy", f"docker-archive:{archive}",
                    f"oci-archive:{oci}:skopeo/oci:1"], capture_output=True, check=True)
    assert "Loaded image: skopeo/docker:1" in sbx.ok("load", "-i", str(dock))
    assert "Loaded image: skopeo/oci:1" in sbx.ok("load", "-i", str(oci))
    for name in ("skopeo/docker:1", "skopeo/oci:1"):
        assert sbx.ok("run", "--rm", name, "echo", name).strip() == name


def test_umoci_unpacks_what_sbx_saves_and_sbx_runs_what_umoci_repacks(sbx: SbxEnv,
                                                                      tmp_path: Path) -> None:
    need("umoci")
    archive = tmp_path / "bb.tar"
    sbx.ok("save", "-o", str(archive), "bb")
    layout = tmp_path / "layout"
    layout.mkdir()
    with tarfile.open(archive) as tar:
        tar.extractall(layout, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
    bundle = tmp_path / "bundle"
    rootless = ["--rootless"] if os.geteuid() else []
    subprocess.run(["umoci", "unpack", *rootless, "--image", f"{layout}:latest", str(bundle)],
                   capture_output=True, check=True)
    assert (bundle / "rootfs" / "bin" / "busybox").exists()
    (bundle / "rootfs" / "hello.txt").write_text("from umoci\n")
    os.unlink(bundle / "rootfs" / "bin" / "ls")  # a whiteout in the new layer
    subprocess.run(["umoci", "repack", "--image", f"{layout}:umoci", str(bundle)],
                   capture_output=True, check=True)
    subprocess.run(["umoci", "config", "--image", f"{layout}:umoci", "--config.cmd", "sh"],
                   capture_output=True, check=True)
    out = tmp_path / "umoci.tar"
    with tarfile.open(out, "w") as tar:
        for entry in sorted(os.listdir(layout)):
            tar.add(layout / entry, arcname=entry)
    lines = sbx.ok("load", "-i", str(out)).splitlines()
    # sbx's own entry keeps its name; umoci's new "umoci" ref is not a full name: untagged
    assert "Loaded image: bb:latest" in lines
    ids = [line.split(": ", 1)[1] for line in lines if line.startswith("Loaded image ID: ")]
    assert len(ids) == 1
    r = sbx.run("run", "--rm", ids[0], "sh", "-c", "cat /hello.txt; ls /bin/ls")
    assert "from umoci" in r.stdout
    assert r.returncode != 0  # /bin/ls is gone in the repacked image (a whiteout)


def test_load_of_a_corrupt_archive_stores_nothing(sbx: SbxEnv, tmp_path: Path) -> None:
    import io

    rootfs = tmp_path / "unique.tar"
    with tarfile.open(rootfs, "w") as tar:
        payload = os.urandom(300_000)
        ti = tarfile.TarInfo("payload.bin")
        ti.size = len(payload)
        tar.addfile(ti, io.BytesIO(payload))
    sbx.ok("import", str(rootfs), "unique:1")
    archive = tmp_path / "unique-saved.tar"
    sbx.ok("save", "-o", str(archive), "unique:1")
    broken = tmp_path / "broken.tar"
    with tarfile.open(archive) as src, tarfile.open(broken, "w") as dst:
        for m in src.getmembers():
            f = src.extractfile(m) if m.isreg() else None
            data = f.read() if f else b""
            if m.size > 100_000:  # the layer: flip a byte in the middle
                data = data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 1]) + data[len(data) // 2 + 1:]
            dst.addfile(m, io.BytesIO(data) if m.isreg() else None)
    sbx.ok("rmi", "unique:1")
    before = stored(sbx)
    r = sbx.run("load", "-i", str(broken))
    assert r.returncode == 125
    assert "mismatch" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert stored(sbx) == before
    assert "Loaded image: unique:1" in sbx.ok("load", "-i", str(archive))
    sbx.ok("rmi", "unique:1")


def test_load_rejects_a_rootfs_tar_with_a_hint(sbx: SbxEnv, busybox_tar: Path) -> None:
    r = sbx.run("load", "-i", str(busybox_tar))
    assert r.returncode == 125 and "sbx import" in r.stderr


def test_export_gives_the_merged_filesystem_and_leaves_no_mount(sbx: SbxEnv,
                                                                tmp_path: Path) -> None:
    cid = sbx.ok("run", "-d", "bb", "sh", "-c",
                 "echo new > /added.txt; rm /bin/ls; mkdir -p /d; echo x > /d/f; sleep 60").strip()
    try:
        import time

        deadline = time.monotonic() + 10
        out = tmp_path / "fs.tar"
        while True:
            sbx.ok("export", "-o", str(out), cid)
            with tarfile.open(out) as tar:
                names = set(tar.getnames())
            if "d/f" in names or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert {"added.txt", "bin/busybox", "bin/sh", "d/f"} <= names
        assert "bin/ls" not in names
        assert not any(".wh." in n for n in names)
        with open("/proc/self/mountinfo") as f:
            mounts_before = f.read().count(str(sbx.root))
        data = subprocess.run([*_sbx(sbx), "export", cid], env=sbx.env, capture_output=True,
                              check=True).stdout
        assert data[257:262] == b"ustar"
        with open("/proc/self/mountinfo") as f:
            assert f.read().count(str(sbx.root)) == mounts_before
    finally:
        sbx.ok("rm", "-f", cid)
    # what export wrote imports and runs
    sbx.ok("import", str(out), "exported:1")
    assert sbx.ok("run", "--rm", "exported:1", "cat", "/added.txt").strip() == "new"
    sbx.ok("rmi", "exported:1")
