"""Many processes, one store: layers unpacked once; killed writers leave nothing visible."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import queue
import signal
import time
from pathlib import Path

import pytest
from sbx.layout import Layout
from sbx.oci.digest import Digest
from sbx.store import Store

from . import workers
from .helpers import rootfs_tar

N = 8


@pytest.fixture(autouse=True)
def _importable_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Spawned children must import ``workers`` under the name pytest gave it."""
    depth = len(workers.__name__.split("."))
    base = Path(workers.__file__).resolve().parents[depth - 1]
    monkeypatch.syspath_prepend(str(base))  # multiprocessing hands sys.path to the child


def _big_tar(tmp_path: Path) -> Path:
    files = {f"usr/share/data/{i:03d}": os.urandom(64 * 1024) for i in range(64)}  # ~4 MB
    p = tmp_path / "layer.tar"
    p.write_bytes(rootfs_tar(files, dirs=("usr", "usr/share", "usr/share/data")))
    return p


def _run_all(target, args_for) -> list[str]:  # type: ignore[no-untyped-def]
    """Start N spawned processes that wait at a barrier, then run ``target`` at once."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(N)
    results = ctx.Queue()
    procs = [ctx.Process(target=workers.report, args=(target, args_for(i), barrier, results))
             for i in range(N)]
    for p in procs:
        p.start()
    out: list[tuple[bool, str]] = []
    try:
        deadline = time.monotonic() + 120
        while len(out) < N and time.monotonic() < deadline:
            try:
                out.append(results.get(timeout=0.5))
            except queue.Empty:
                if not any(p.is_alive() for p in procs) and results.empty():
                    break
        assert len(out) == N, f"only {len(out)} of {N} workers reported (see their stderr)"
    finally:
        for p in procs:
            p.join(30)
            if p.is_alive():
                p.kill()
                p.join()
    failures = [v for ok, v in out if not ok]
    assert not failures, failures
    return [v for _, v in out]


def _assert_single_layer(root: Path, counter: Path, diff_ids: list[str]) -> None:
    assert len(set(diff_ids)) == 1
    assert len(counter.read_text().splitlines()) == 1, "the layer was unpacked more than once"
    store = Store(Layout(root, root / "run"))
    assert [r.diff_id for r in store.layers.records()] == [Digest.parse(diff_ids[0])]
    assert [p.name for p in (root / "tmp").iterdir()] == []


def test_eight_processes_import_the_same_rootfs(tmp_path: Path) -> None:
    tar = _big_tar(tmp_path)
    root, counter = tmp_path / "store", tmp_path / "unpacks"
    diff_ids = _run_all(workers.import_same,
                        lambda i: (str(root), str(tar), f"img{i}", str(counter)))
    _assert_single_layer(root, counter, diff_ids)
    store = Store(Layout(root, root / "run"))
    assert sorted(t for r in store.images() for t in r.repo_tags) == \
        sorted(f"img{i}:latest" for i in range(N))


def test_eight_processes_ensure_the_same_layer(tmp_path: Path) -> None:
    tar = _big_tar(tmp_path)
    diff_id = "sha256:" + hashlib.sha256(tar.read_bytes()).hexdigest()
    root, counter = tmp_path / "store", tmp_path / "unpacks"
    diff_ids = _run_all(workers.ensure_same,
                        lambda i: (str(root), str(tar), diff_id, str(counter)))
    _assert_single_layer(root, counter, diff_ids)


def _kill_when_started(target, args) -> None:  # type: ignore[no-untyped-def]
    ctx = multiprocessing.get_context("spawn")
    started = ctx.Event()
    proc = ctx.Process(target=target, args=(*args, started))
    proc.start()
    try:
        assert started.wait(60), "worker never reached the middle of its write"
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.join(30)
    assert proc.exitcode == -signal.SIGKILL


def test_sigkill_mid_ingest_leaves_nothing_visible(tmp_path: Path) -> None:
    root = tmp_path / "store"
    data = os.urandom(3 * 1024 * 1024)
    digest = Digest.of_bytes(data)
    (tmp_path / "data").write_bytes(data)
    _kill_when_started(workers.ingest_and_hang, (str(root), str(digest), str(tmp_path / "data")))
    store = Store(Layout(root, root / "run"))
    assert not store.has_blob(digest)
    assert list(store.blobs.digests()) == []
    assert [p.name.split(".")[0] for p in store.layout.tmp.iterdir()] == ["blob"]  # only scratch
    with store.ingest(digest, len(data)) as w:  # the next caller succeeds ...
        w.write(data)
    assert store.blobs.read(digest) == data
    assert list(store.layout.tmp.iterdir()) == []  # ... and removes the dead writer's scratch


def test_sigkill_mid_unpack_leaves_only_scratch(tmp_path: Path) -> None:
    tar = _big_tar(tmp_path)
    diff_id = Digest("sha256", hashlib.sha256(tar.read_bytes()).hexdigest())
    root = tmp_path / "store"
    _kill_when_started(workers.unpack_and_hang, (str(root), str(tar), str(diff_id)))
    store = Store(Layout(root, root / "run"))
    assert not store.has_layer(diff_id)
    assert not (store.layout.layers / f"{diff_id.hex}.json").exists()
    leftovers = list(store.layout.tmp.iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(f"layer.{diff_id.hex}.")
    rec = store.add_layer_from_tar(tar, diff_id=diff_id)
    assert rec.diff_id == diff_id and store.has_layer(diff_id)
    assert list(store.layout.tmp.iterdir()) == []
