"""The containers on disk: ``containers/<id>/{config.json,state.json,...}`` plus unique
name reservations (``names/<name>`` made with O_EXCL), id-prefix and name resolution, and
the true status of a container whose processes vanished."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sbx import atomic
from sbx.errors import Conflict, ContainerNotFound, InvalidArgument
from sbx.layout import Layout
from sbx.linux import proc
from sbx.locks import flocked
from sbx.runtime.spec import ContainerSpec
from sbx.runtime.state import ContainerState, Status


@dataclass(frozen=True)
class ContainerRecord:
    id: str
    name: str
    created: float
    spec: ContainerSpec
    state: ContainerState

    @property
    def short_id(self) -> str:
        return self.id[:12]


class ContainerFiles:
    """Paths of one container (all computed from the Layout)."""

    def __init__(self, layout: Layout, cid: str) -> None:
        self.dir = layout.container_dir(cid)
        self.run_dir = layout.container_run_dir(cid)

    config = property(lambda self: self.dir / "config.json")
    state = property(lambda self: self.dir / "state.json")
    lock = property(lambda self: self.dir / "lock")
    log = property(lambda self: self.dir / "container.log")
    upper = property(lambda self: self.dir / "diff")
    work = property(lambda self: self.dir / "work")
    hosts = property(lambda self: self.dir / "hosts")
    hostname = property(lambda self: self.dir / "hostname")
    resolv = property(lambda self: self.dir / "resolv.conf")
    rootfs = property(lambda self: self.run_dir / "rootfs")
    driver_file = property(lambda self: self.dir / "driver")   # "copy"; absent: overlay

    def driver(self) -> str:
        try:
            return self.driver_file.read_text().strip() or "overlay"
        except FileNotFoundError:
            return "overlay"


class ContainerStore:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def files(self, cid: str) -> ContainerFiles:
        return ContainerFiles(self.layout, cid)

    # -- creation ------------------------------------------------------------
    def new_id(self) -> str:
        while True:
            cid = os.urandom(32).hex()
            if not cid[:12].isdigit() and not self.layout.container_dir(cid).exists():
                return cid

    def reserve_name(self, name: str, cid: str) -> None:
        self.layout.names_dir.mkdir(parents=True, exist_ok=True)
        path = self.layout.names_dir / name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            try:
                other = path.read_text().strip()
            except OSError:
                other = "?"
            if other and not self.layout.container_dir(other).exists():
                path.unlink(missing_ok=True)  # a stale reservation of a removed container
                return self.reserve_name(name, cid)
            raise Conflict(f'the container name "/{name}" is already in use by container "{other}"',
                           hint="remove (or rename) that container to be able to reuse that name") from None
        with os.fdopen(fd, "w") as f:
            f.write(cid)

    def name_taken(self, name: str) -> bool:
        return (self.layout.names_dir / name).exists()

    def create(self, cid: str, name: str, spec: ContainerSpec) -> ContainerRecord:
        files = self.files(cid)
        files.dir.mkdir(parents=True, mode=0o700)
        for d in (files.upper, files.work):
            d.mkdir()
        # the lock file now, not on the monitor's first state change (on the start path)
        os.close(os.open(files.lock, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))
        rec = ContainerRecord(cid, name, time.time(), spec, ContainerState())
        atomic.write_json(files.config, {"id": cid, "name": name, "created": rec.created,
                                         "spec": spec.to_json()})
        self.save_state(cid, rec.state)
        return rec

    # -- reading -------------------------------------------------------------
    def load(self, cid: str) -> ContainerRecord:
        files = self.files(cid)
        try:
            cfg: dict[str, Any] = atomic.read_json(files.config)
            st = ContainerState.from_json(atomic.read_json(files.state))
        except FileNotFoundError:
            raise ContainerNotFound(f"No such container: {cid}") from None
        rec = ContainerRecord(cfg["id"], cfg["name"], cfg["created"],
                              ContainerSpec.from_json(cfg["spec"]), st)
        return self._true_status(rec)

    def _true_status(self, rec: ContainerRecord) -> ContainerRecord:
        """A running record whose init and monitor are both gone has exited unseen."""
        st = rec.state
        if st.status is not Status.RUNNING:
            return rec
        if proc.is_alive(st.pid, st.pid_start) or proc.is_alive(st.monitor_pid, st.monitor_start):
            return rec
        # Re-read under the lock: the monitor may have just written the real exit.
        with flocked(self.files(rec.id).lock):
            try:
                st = ContainerState.from_json(atomic.read_json(self.files(rec.id).state))
            except FileNotFoundError:
                raise ContainerNotFound(f"No such container: {rec.id}") from None
            if st.status is Status.RUNNING:
                st = st.exited(exit_code=255, finished_at=time.time(),
                               error="the container's processes vanished (monitor killed?)")
                self.save_state(rec.id, st)
        return replace(rec, state=st)

    def ids(self) -> list[str]:
        try:
            return [p.name for p in self.layout.containers.iterdir() if len(p.name) == 64]
        except FileNotFoundError:
            return []

    def all(self) -> list[ContainerRecord]:
        out = []
        for cid in self.ids():
            try:
                out.append(self.load(cid))
            except (ContainerNotFound, KeyError, ValueError):
                continue  # being created or removed right now
        out.sort(key=lambda r: r.created, reverse=True)
        return out

    def resolve(self, ref: str) -> str:
        """Full id from a name, a full id or a unique id prefix."""
        if not ref:
            raise InvalidArgument("container name or id must not be empty")
        if len(ref) == 64 and self.layout.container_dir(ref).is_dir():
            return ref
        name = ref.lstrip("/")
        npath = self.layout.names_dir / name
        if "/" not in name and npath.exists():
            try:
                cid = npath.read_text().strip()
            except OSError:
                cid = ""
            if cid and self.layout.container_dir(cid).is_dir():
                return cid
        if all(c in "0123456789abcdef" for c in ref):
            matches = [c for c in self.ids() if c.startswith(ref)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise InvalidArgument(f"multiple containers found with provided prefix: {ref}",
                                      hint="give more characters of the id")
        raise ContainerNotFound(f"No such container: {ref}")

    def get(self, ref: str) -> ContainerRecord:
        return self.load(self.resolve(ref))

    # -- writing -------------------------------------------------------------
    def save_state(self, cid: str, state: ContainerState) -> None:
        atomic.write_json(self.files(cid).state, state.to_json())

    @contextmanager
    def locked(self, cid: str) -> Iterator[None]:
        path = self.files(cid).lock
        try:
            with flocked(path):
                yield
        except FileNotFoundError:
            raise ContainerNotFound(f"No such container: {cid}") from None

    def update_state(self, cid: str, fn: Any) -> ContainerState:
        with self.locked(cid):
            st = ContainerState.from_json(atomic.read_json(self.files(cid).state))
            new = fn(st)
            self.save_state(cid, new)
            return new

    def delete_files(self, rec: ContainerRecord, *, measure: bool = True,
                     defer: bool = False) -> int:
        """Remove a container's directories and name; returns bytes freed (its layer, when
        ``measure``: ``--rm`` has nobody to tell and skips the walk).  The directory is
        first renamed out of sight (``.removing-<id>``), so no reader sees half of it; with
        ``defer`` the caller deletes that later with ``sweep_removed`` (off its hot path)."""
        from sbx.rootless.userns import remove_trees

        files = self.files(rec.id)
        size = _du(files.upper) if measure else 0
        npath = self.layout.names_dir / rec.name
        try:
            if npath.read_text().strip() == rec.id:
                npath.unlink()
        except OSError:
            pass
        if not defer:
            remove_trees([files.run_dir])
        # Rename first so a concurrent reader never sees half a directory.
        tomb = self.layout.containers / f".removing-{rec.id}"
        try:
            os.rename(files.dir, tomb)
        except FileNotFoundError:
            return 0
        if not defer:
            remove_trees([tomb])
        if rec.spec.uid_map:  # --userns=auto: its id range is free again
            from sbx.runtime.userns_auto import release

            release(rec.id)
        return size

    def sweep_removed(self, cid: str | None = None) -> None:
        """Delete renamed-away container directories (one, or all that were left behind)."""
        from sbx.rootless.userns import remove_trees

        pattern = f".removing-{cid}" if cid else ".removing-*"
        trees = list(self.layout.containers.glob(pattern))
        if cid:  # (deferred --rm) its runtime dir too
            trees.append(self.layout.container_run_dir(cid))
        remove_trees(trees)


def _du(path: Path) -> int:
    total = 0
    for root, _dirs, names in os.walk(path):
        for n in names:
            try:
                total += os.lstat(os.path.join(root, n)).st_size
            except OSError:
                pass
    return total
