"""What a test holds: ``Container`` (one started container: host, ports, url, exec, logs,
stop) and ``Sandbox`` (the ``sandbox`` fixture: the test's containers by name, plus
``run`` and ``build`` for containers and images the test makes itself)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from sbx.errors import SbxError

if TYPE_CHECKING:
    from pytest_sandbox.catalog import Service
    from pytest_sandbox.factory import SandboxFactory


class ExecResult(NamedTuple):
    exit_code: int
    output: str


class Container:
    """A started container.  ``host`` is where published ports listen (loopback)."""

    host = "127.0.0.1"

    def __init__(self, engine: Any, record: Any, ports: dict[int, int], *, alias: str,
                 service: Service | None = None, env: dict[str, str] | None = None,
                 scope: str = "function") -> None:
        self._engine = engine
        self._record = record
        self._ports = ports
        self.alias = alias
        self.service = service
        self.env = env or {}
        self.scope = scope
        self.removed = False

    def __repr__(self) -> str:
        return f"<Container {self.alias} {self.id[:12]} ({self._record.spec.image})>"

    # -- identity ------------------------------------------------------------------
    @property
    def id(self) -> str:
        return str(self._record.id)

    @property
    def name(self) -> str:
        """The engine's container name (``sbx logs NAME``); ``alias`` is the test's name."""
        return str(self._record.name)

    @property
    def image(self) -> str:
        return str(self._record.spec.image)

    @property
    def pid(self) -> int:
        return int(self._record.state.pid)

    # -- addresses -----------------------------------------------------------------
    def port(self, container_port: int) -> int:
        """The host port that ``container_port`` is published on."""
        try:
            return self._ports[int(container_port)]
        except KeyError:
            raise SbxError(f"container {self.alias}: port {container_port} is not published "
                           f"(published: {sorted(self._ports) or 'none'})",
                           hint="add it to the marker's ports=[...]") from None

    def host_port(self, container_port: int) -> int | None:
        return self._ports.get(int(container_port))

    def published(self) -> list[int]:
        return sorted(self._ports)

    @property
    def url(self) -> str:
        """The connection URL of a catalog service (``redis://127.0.0.1:49153/0``), or
        ``http://host:port`` of the first published port."""
        if self.service is not None and self.service.port in self._ports:
            return self.service.format_url(self.host, self._ports[self.service.port], self.env)
        if self._ports:
            return f"http://{self.host}:{self._ports[min(self._ports)]}"
        return ""

    # -- state -----------------------------------------------------------------------
    def running(self) -> bool:
        """True while the container's init runs (checked with its start time)."""
        from sbx import process_start_time

        st = self._record.state
        if self.removed or st.pid <= 0:
            return False
        now = process_start_time(st.pid)
        return now is not None and (st.pid_start is None or now == st.pid_start)

    def settle(self, timeout: float = 2.0) -> None:
        """After the init exited: wait (briefly) until the monitor has written the last
        output and the exit record."""
        import time

        st = self._record.state
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with open(f"/proc/{st.monitor_pid}/stat", "rb") as f:
                    data = f.read()
            except OSError:
                return
            rest = data[data.rfind(b")") + 2:].split()
            if not rest or rest[0] == b"Z" or (st.monitor_start is not None and int(rest[19]) != st.monitor_start):
                return
            time.sleep(0.002)

    def healthcheck(self) -> dict[str, Any] | None:
        return self._record.spec.healthcheck

    def exec(self, cmd: str | list[str] | tuple[str, ...], *, env: dict[str, str] | None = None,
             user: str | None = None, workdir: str | None = None) -> ExecResult:
        """Run ``cmd`` inside the container (a string goes through ``sh -c``); returns the
        exit code and the combined output."""
        from sbx.runtime.execute import ExecSpec

        argv = ("sh", "-c", cmd) if isinstance(cmd, str) else tuple(cmd)
        spec = ExecSpec(argv=argv, env=tuple(f"{k}={v}" for k, v in (env or {}).items()),
                        user=user, workdir=workdir)
        proc = self._engine.exec(self.id, spec)
        out, err = proc.communicate()
        return ExecResult(proc.returncode, (out + err).decode("utf-8", "replace"))

    def logs(self) -> str:
        """Everything the container wrote to stdout and stderr so far."""
        import json

        try:
            with open(self._engine.log_path(self._record), "rb") as f:
                raw = f.read()
        except OSError:
            return ""
        out = []
        for line in raw.splitlines():
            try:
                out.append(json.loads(line).get("log", ""))
            except ValueError:
                continue
        return "".join(out)

    def stop(self, timeout: float = 10) -> None:
        """Stop the container (its stop signal, then SIGKILL after ``timeout``)."""
        self._engine.stop(self.id, timeout)

    def remove(self) -> None:
        if self.removed:
            return
        self.removed = True
        try:
            self._engine.remove(self.id, force=True)
        except SbxError:
            pass


class Sandbox:
    """The ``sandbox`` fixture: ``sandbox["redis"]`` is the container a marker started;
    ``sandbox.run(image, **options)`` starts another one owned by the test;
    ``sandbox.build(path, **options)`` builds an image (cached) and returns its id."""

    def __init__(self, factory: SandboxFactory, node_id: str) -> None:
        self._factory = factory
        self._node_id = node_id
        self._by_name: dict[str, Container] = {}
        self.owned: list[Container] = []   # started by run(): removed after the test

    def _add(self, c: Container) -> None:
        self._by_name[c.alias] = c

    def __getitem__(self, name: str) -> Container:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no container {name!r} in this test's sandbox "
                           f"(have: {', '.join(self._by_name) or 'none'})") from None

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    def containers(self) -> list[Container]:
        return list(self._by_name.values())

    @property
    def engine(self) -> Any:
        return self._factory.engine

    def run(self, image: str, **options: Any) -> Container:
        """Start a container for this test (the marker's options) and wait until ready."""
        from pytest_sandbox.markers import ContainerRequest

        options.setdefault("scope", "function")
        req = ContainerRequest.from_args(image, **options)
        c = self._factory.start(req, node_id=self._node_id, peers=self._by_name)
        self.owned.append(c)
        self._add(c)
        return c

    def build(self, path: str | os.PathLike[str], **options: Any) -> str:
        """Build the image in ``path`` (options: dockerfile, target, build_args, tag); the
        result is cached for the run and built once for all xdist workers."""
        return self._factory.images.build(
            str(path), dockerfile=options.get("dockerfile"), target=options.get("target"),
            build_args=dict(options.get("build_args") or {}), tag=options.get("tag"))

    def exec(self, name: str, cmd: str | list[str]) -> ExecResult:
        return self[name].exec(cmd)
