"""Container scopes: which pytest node a scoped container lives as long as, and the
registry that lets all pytest-xdist workers of one run share a session-scoped container.

Shared containers live in ``<store>/sandbox/runs/<testrun_uid>/``: per container a lock,
a record (``<key>.json``: container id) and a reference list (``<key>.refs``: the workers
using it).  The first worker to take the lock starts the container; the others attach to
it; the last worker to release it removes it, and the controller removes anything left
when the whole run ends.  Shared containers are labelled with the controller's pid, so a
run killed outright is reaped by the next one."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from filelock import FileLock

from pytest_sandbox.reaper import Owner


def scope_node(item: pytest.Item, scope: str) -> pytest.Item | pytest.Collector | pytest.Session:
    """The node whose teardown ends a container of ``scope``."""
    if scope == "function":
        return item
    if scope == "session":
        return item.session
    kind = {"class": pytest.Class, "module": pytest.Module, "package": pytest.Package}[scope]
    node = item.getparent(kind)
    if node is None and scope == "class":
        node = item.getparent(pytest.Module)
    return node if node is not None else item.session


class SharedRegistry:
    """Session containers shared by the workers of one xdist run."""

    def __init__(self, base: Path, run_uid: str, controller: Owner) -> None:
        self.dir = base / "runs" / run_uid
        self.controller = controller

    def _paths(self, key: str) -> tuple[FileLock, Path, Path]:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        owner = self.dir / "owner"
        if not owner.exists():
            owner.write_text(f"{self.controller.pid} {self.controller.start or ''}")
        return (FileLock(str(self.dir / f"{key}.lock"), mode=0o600), self.dir / f"{key}.json",
                self.dir / f"{key}.refs")

    @staticmethod
    def _refs(path: Path) -> list[str]:
        try:
            return [w for w in path.read_text().split() if w]
        except FileNotFoundError:
            return []

    def acquire(self, key: str, worker: str, start: Callable[[], str],
                alive: Callable[[str], bool]) -> str:
        """The id of the shared container ``key``; ``start()`` makes it when nobody has."""
        lock, record, refs = self._paths(key)
        with lock:
            cid = ""
            if record.exists():
                cid = json.loads(record.read_text()).get("id", "")
                if cid and not alive(cid):
                    cid = ""
            if not cid:
                cid = start()
                record.write_text(json.dumps({"id": cid}))
                refs.write_text("")
            users = self._refs(refs)
            if worker not in users:
                users.append(worker)
            refs.write_text("\n".join(users))
            return cid

    def release(self, key: str, worker: str, remove: Callable[[str], None]) -> None:
        """Drop ``worker``'s reference; the last one out removes the container."""
        lock, record, refs = self._paths(key)
        with lock:
            users = [w for w in self._refs(refs) if w != worker]
            refs.write_text("\n".join(users))
            if users or not record.exists():
                return
            cid = json.loads(record.read_text()).get("id", "")
            record.unlink()
            if cid:
                remove(cid)

    def remove_all(self, remove: Callable[[str], None]) -> None:
        """(controller, at the end of the run) whatever crashed workers left, then the dir."""
        if not self.dir.is_dir():
            return
        for record in self.dir.glob("*.json"):
            try:
                cid = json.loads(record.read_text()).get("id", "")
            except (OSError, ValueError):
                continue
            if cid:
                remove(cid)
        shutil.rmtree(self.dir, ignore_errors=True)


def xdist_identity(config: pytest.Config) -> tuple[str, str | None, bool]:
    """(worker id, testrun_uid or None, is the xdist controller) for this process."""
    workerinput: dict[str, Any] | None = getattr(config, "workerinput", None)
    if workerinput is not None:
        return str(workerinput.get("workerid", "gw?")), str(workerinput.get("testrunuid")), False
    controller = bool(getattr(config.option, "numprocesses", None)) and \
        config.pluginmanager.hasplugin("xdist")
    uid = getattr(config, "testrun_uid", None) if controller else None
    return "master", uid, controller


def controller_owner(config: pytest.Config) -> Owner:
    """The process that ends the run: the xdist controller for a worker, else this one."""
    if getattr(config, "workerinput", None) is not None:
        return Owner.of(os.getppid())
    return Owner.of(os.getpid())
