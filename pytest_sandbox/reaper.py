"""Who owns a container, and clean-up that survives crashes: every container the plugin
starts carries the run id, its owner's pid and that pid's start time as labels.  A
container whose owner is gone (SIGKILLed pytest, a crashed worker) is reaped by the next
run; ``--sandbox-prune`` also removes stopped containers, dangling images, build cache
and the plugin's own files.  Containers kept with ``--sandbox-keep-failed`` are not
reaped by later runs, only by ``--sandbox-prune``."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sbx import process_start_time as _start_time
from sbx.errors import SbxError

LABEL_RUN = "sandbox.run"
LABEL_PID = "sandbox.owner.pid"
LABEL_START = "sandbox.owner.start"
LABEL_TEST = "sandbox.test"
LABEL_SCOPE = "sandbox.scope"


@dataclass(frozen=True)
class Owner:
    """A process that removes its containers when it finishes."""

    pid: int
    start: int | None

    @classmethod
    def of(cls, pid: int) -> Owner:
        return cls(pid, _start_time(pid))

    @classmethod
    def from_labels(cls, labels: dict[str, str]) -> Owner | None:
        try:
            pid = int(labels[LABEL_PID])
        except (KeyError, ValueError):
            return None
        start = labels.get(LABEL_START, "")
        return cls(pid, int(start) if start.isdigit() else None)

    def alive(self) -> bool:
        now = _start_time(self.pid)
        return now is not None and (self.start is None or now == self.start)

    def labels(self, run_id: str) -> tuple[tuple[str, str], ...]:
        return ((LABEL_RUN, run_id), (LABEL_PID, str(self.pid)),
                (LABEL_START, "" if self.start is None else str(self.start)))


def kept_dir(engine: Any) -> Path:
    return Path(engine.layout.sandbox) / "kept"


def mark_kept(engine: Any, cid: str) -> None:
    d = kept_dir(engine)
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    (d / cid).touch()


def _kept(engine: Any) -> set[str]:
    try:
        return set(os.listdir(kept_dir(engine)))
    except FileNotFoundError:
        return set()


def orphans(engine: Any) -> list[Any]:
    """Sandbox containers whose owner process is gone (and that nobody asked to keep)."""
    kept = _kept(engine)
    out = []
    for rec in engine.list(all=True):
        owner = Owner.from_labels(rec.spec.labels_dict)
        if owner is not None and rec.id not in kept and not owner.alive():
            out.append(rec)
    return out


def reap(engine: Any) -> list[str]:
    """Remove the containers of dead runs; returns their ids."""
    gone = []
    for rec in orphans(engine):
        try:
            engine.remove(rec.id, force=True)
            gone.append(rec.id)
        except SbxError:
            pass  # another run reaped it first
    return gone


@dataclass(frozen=True)
class PruneSummary:
    containers: tuple[str, ...]
    images: tuple[str, ...]
    cache_entries: int
    reclaimed: int

    def lines(self) -> list[str]:
        return [f"sandbox prune: removed {len(self.containers)} container(s), "
                f"{len(self.images)} image(s), {self.cache_entries} build cache entr"
                f"{'y' if self.cache_entries == 1 else 'ies'}",
                *(f"  container {c[:12]}" for c in self.containers),
                *(f"  image {i}" for i in self.images),
                f"Total reclaimed space: {_human(self.reclaimed)}"]


def _human(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000:
            return f"{size:.3g}{unit}"
        size /= 1000
    return f"{size:.3g}TB"


def prune(engine: Any) -> PruneSummary:
    """``--sandbox-prune``: orphaned and kept sandbox containers, every stopped container,
    dangling images, the build cache and the plugin's state of finished runs.  Containers
    of runs still alive are left alone."""
    removed = reap(engine)
    for cid in _kept(engine):
        try:
            engine.remove(cid, force=True)
            removed.append(cid)
        except SbxError:
            pass
    shutil.rmtree(kept_dir(engine), ignore_errors=True)
    rep = engine.prune_containers()
    reclaimed = int(rep.reclaimed)
    removed.extend(rep.containers)
    irep = engine.images.prune(all=False, in_use=set(engine.images_in_use()))
    images = tuple(str(d) for d in (getattr(irep, "deleted", ()) or getattr(irep, "images", ()) or ()))
    reclaimed += int(getattr(irep, "reclaimed", 0) or getattr(irep, "reclaimed_bytes", 0) or 0)
    entries = 0
    prune_cache = getattr(engine, "prune_build_cache", None)
    if prune_cache is not None:
        cres = prune_cache()
        entries = int(getattr(cres, "entries", 0))
        reclaimed += int(getattr(cres, "reclaimed", 0))
    runs = Path(engine.layout.sandbox) / "runs"
    if runs.is_dir():
        for run in runs.iterdir():
            if not _run_alive(run):
                shutil.rmtree(run, ignore_errors=True)
    return PruneSummary(tuple(dict.fromkeys(removed)), images, entries, reclaimed)


def _run_alive(run_dir: Path) -> bool:
    try:
        pid, _, start = (run_dir / "owner").read_text().partition(" ")
        return Owner(int(pid), int(start) if start.strip().isdigit() else None).alive()
    except (OSError, ValueError):
        return False
