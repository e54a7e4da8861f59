"""``SandboxFactory``: one per pytest process (made in ``pytest_configure``), modelled on
pytest's ``TempPathFactory``.  It owns the engine, the catalog and the image resolver,
starts containers from ``ContainerRequest``s, caches scoped ones, and removes everything
it started when the session ends."""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from pytest_sandbox import reaper, wait
from pytest_sandbox.catalog import Catalog, Service
from pytest_sandbox.images import Images
from pytest_sandbox.markers import ContainerRequest, requests_for
from pytest_sandbox.options import Settings
from pytest_sandbox.sandbox import Container, Sandbox
from pytest_sandbox.scopes import SharedRegistry, controller_owner, scope_node, xdist_identity


class SandboxFactory:
    def __init__(self, config: pytest.Config, settings: Settings,
                 say: Callable[[str], None]) -> None:
        self.config = config
        self.settings = settings
        self.say = say
        self.worker_id, uid, self.is_controller = xdist_identity(config)
        self.run_id = uid or uuid.uuid4().hex
        self.owner = reaper.Owner.of(os.getpid())
        self.controller = controller_owner(config)
        self._engine: Any = None
        self._catalog: Catalog | None = None
        self.images = Images(lambda: self.engine, settings.pull, say)
        self.scoped: dict[tuple[str, str, str], Container] = {}
        self.shared: dict[str, Container] = {}
        self.live: dict[str, Container] = {}
        self.kept: list[tuple[str, Container]] = []

    @classmethod
    def from_config(cls, config: pytest.Config, say: Callable[[str], None]) -> SandboxFactory:
        return cls(config, Settings.from_config(config), say)

    # -- engine and catalog -------------------------------------------------------------
    @property
    def engine(self) -> Any:
        if self._engine is None:
            from sbx.engine import Engine

            self._engine = Engine.from_env(self.settings.root)
        return self._engine

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            extra = self.config.pluginmanager.hook.pytest_sandbox_services(config=self.config)
            self._catalog = Catalog.default(extra)
        return self._catalog

    def reap_orphans(self) -> list[str]:
        return reaper.reap(self.engine)

    # -- starting ----------------------------------------------------------------------
    def start(self, req: ContainerRequest, *, node_id: str, peers: dict[str, Container],
              owner: reaper.Owner | None = None) -> Container:
        """Start ``req`` and wait until it is ready (on failure nothing is left behind)."""
        from sbx.runtime.spec import Limits, Port, RunOptions

        service: Service | None = None if req.build else self.catalog.get(req.image)
        if req.build:
            image = self.images.build(req.build, dockerfile=req.dockerfile, target=req.target,
                                      build_args=dict(req.build_args))
        else:
            image = self.images.resolve(service.image if service else req.image, service, req.pull)
        env = dict(service.env if service else ())
        env.update(req.env)
        ports = list(req.ports)
        if service is not None:
            for p in (service.port, *service.extra_ports):
                if p not in ports:
                    ports.insert(0, p) if p == service.port else ports.append(p)
        network = req.network or "private"
        if network.startswith("container:"):
            peer = peers.get(network.split(":", 1)[1])
            if peer is not None:
                network = f"container:{peer.id}"
        if network != "private":
            ports = []
        labels = (*(owner or self.owner).labels(self.run_id), (reaper.LABEL_TEST, node_id),
                  (reaper.LABEL_SCOPE, req.scope), *req.labels)
        command = req.command if req.command is not None else (service.command if service else ())
        opts = RunOptions(
            command=tuple(command), entrypoint=req.entrypoint,
            env=tuple(f"{k}={v}" for k, v in env.items()),
            ports=tuple(Port(p) for p in ports), mounts=self._mounts(req), network=network,
            limits=Limits(memory=_bytes(req.memory), cpus=float(req.cpus) if req.cpus else None,
                          pids=int(req.pids) if req.pids else None),
            labels=labels, user=req.user, workdir=req.workdir, privileged=req.privileged,
            read_only=req.read_only, userns=self._userns())
        engine = self.engine
        name = _container_name(req.name)
        try:
            started = engine.run(image, opts, name=name)
        except BaseException:
            engine.remove_quietly(name)  # created but not started: nothing of it stays
            raise
        rec = engine.get(started.record.id)
        c = Container(engine, rec, {hp.container_port: hp.host_port for hp in started.ports},
                      alias=req.name, service=service, env=env, scope=req.scope)
        self.live[c.id] = c
        try:
            wait.wait_until_ready(self._strategy(req, service, rec, tuple(ports)), c,
                                  float(req.timeout or self.settings.timeout), self.say)
        except BaseException:
            self.remove(c)
            raise
        self.config.pluginmanager.hook.pytest_sandbox_container_ready(container=c)
        return c

    def _userns(self) -> str:
        """``sandbox_userns``; in rootless mode (where every container already runs in the
        user's namespace) ``auto`` does not apply: said once."""
        if not self.settings.userns:
            return ""
        from sbx.rootless.idmap import current

        if not current().rootless:
            return self.settings.userns
        if not getattr(self, "_userns_noted", False):
            self._userns_noted = True
            self.say("sandbox: note: sandbox_userns = auto applies in root mode only "
                     "(rootless containers already run in your user namespace)")
        return ""

    @staticmethod
    def _strategy(req: ContainerRequest, service: Service | None, rec: Any,
                  ports: tuple[int, ...]) -> wait.Strategy | None:
        if req.wait is not None:
            return wait.parse(req.wait, ports)
        if service is not None and service.ready is not None:
            return service.ready
        if rec.spec.healthcheck and (rec.spec.healthcheck.get("Test") or ["NONE"])[0] != "NONE":
            return wait.Healthcheck()
        return wait.Port(ports) if ports else None

    @staticmethod
    def _mounts(req: ContainerRequest) -> tuple[Any, ...]:
        from pathlib import Path

        from sbx.runtime.spec import Mount

        out = []
        for src, dst in req.volumes:
            target, _, mode = dst.partition(":")
            ro = mode == "ro"
            if src.startswith(("/", ".", "~")):
                out.append(Mount("bind", target, str(Path(src).expanduser().absolute()), ro))
            else:
                out.append(Mount("volume", target, "", ro, name=src))
        for t in req.tmpfs:
            target, _, options = t.partition(":")
            out.append(Mount("tmpfs", target, "", False, options))
        return tuple(out)

    def remove(self, c: Container) -> None:
        self.live.pop(c.id, None)
        c.remove()

    # -- the containers of one test -------------------------------------------------------
    def sandbox_for(self, item: pytest.Item) -> Sandbox:
        """The test's sandbox with the containers its markers ask for, started or reused."""
        box = Sandbox(self, item.nodeid)
        for req in requests_for(item):
            if req.scope == "function":
                c = self.start(req, node_id=item.nodeid, peers=box._by_name)
                box.owned.append(c)
            else:
                c = self._scoped(item, req, box)
            box._add(c)
        return box

    def _scoped(self, item: pytest.Item, req: ContainerRequest, box: Sandbox) -> Container:
        if req.scope == "session" and self.worker_id != "master":
            return self._shared(req, box)
        node = scope_node(item, req.scope)
        key = (req.scope, node.nodeid, req.key())
        c = self.scoped.get(key)
        if c is None or not c.running():
            c = self.start(req, node_id=node.nodeid, peers=box._by_name)
            self.scoped[key] = c

            def drop(key: tuple[str, str, str] = key) -> None:
                gone = self.scoped.pop(key, None)
                if gone is not None:
                    self.remove(gone)

            node.addfinalizer(drop)
        return c

    def _shared(self, req: ContainerRequest, box: Sandbox) -> Container:
        key = req.key()
        if key in self.shared and self.shared[key].running():
            return self.shared[key]
        reg = self.registry()

        def start() -> str:
            c = self.start(req, node_id="session", peers=box._by_name, owner=self.controller)
            self.live.pop(c.id, None)   # the registry decides when it goes
            return c.id

        cid = reg.acquire(key, self.worker_id, start, self._alive)
        rec = self.engine.get(cid)
        service = None if req.build else self.catalog.get(req.image)
        env = dict(service.env if service else ())
        env.update(req.env)
        c = Container(self.engine, rec, {hp.container_port: hp.host_port for hp in rec.state.ports},
                      alias=req.name, service=service, env=env, scope="session")
        self.shared[key] = c
        return c

    def registry(self) -> SharedRegistry:
        from pathlib import Path

        return SharedRegistry(Path(self.engine.layout.sandbox), self.run_id, self.controller)

    def _alive(self, cid: str) -> bool:
        try:
            from sbx.runtime.state import Status

            return self.engine.get(cid).state.status is Status.RUNNING
        except Exception:  # noqa: BLE001 - gone or unreadable: not alive
            return False

    def _remove_id(self, cid: str) -> None:
        from sbx.errors import SbxError

        try:
            self.engine.remove(cid, force=True)
        except SbxError:
            pass

    def finish_test(self, box: Sandbox, failed: bool) -> None:
        """After a test: remove its function-scoped containers (or keep them when it failed
        and ``--sandbox-keep-failed`` is on)."""
        for c in reversed(box.owned):
            if failed and self.settings.keep_failed:
                reaper.mark_kept(self.engine, c.id)
                self.live.pop(c.id, None)
                self.kept.append((box._node_id, c))
            else:
                self.remove(c)

    # -- the end -------------------------------------------------------------------------
    def close(self) -> None:
        """Remove everything this process started; release shared containers."""
        for c in reversed(list(self.live.values())):
            self.remove(c)
        self.scoped.clear()
        if self.shared:
            reg = self.registry()
            for key in list(self.shared):
                reg.release(key, self.worker_id, self._remove_id)
            self.shared.clear()
        if self.is_controller:
            self.registry().remove_all(self._remove_id)


def _bytes(value: str | int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    from sbx.units import parse_bytes

    return parse_bytes(str(value))


def _container_name(alias: str) -> str:
    clean = "".join(ch if ch.isalnum() or ch in "_.-" else "-" for ch in alias).strip("-.") or "c"
    return f"sbx-{clean[:40]}-{secrets.token_hex(3)}"
