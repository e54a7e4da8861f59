"""The ``container`` marker: registration text and its translation into a
``ContainerRequest`` (frozen data the factory starts containers from)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import pytest

MARKER = "container"
MARKER_HELP = (
    "container(image_or_service, *, name=None, env={}, command=None, entrypoint=None, "
    "ports=[], volumes={}, tmpfs=[], memory=None, cpus=None, pids=None, network=None, "
    "wait=None, timeout=None, scope='function', build=None, dockerfile=None, target=None, "
    "build_args={}, labels={}, user=None, workdir=None): start an isolated container for "
    "the test (a catalog service such as redis/postgres/mariadb/mongo/memcached/nginx, or "
    "an image reference), reachable as sandbox[name]. May be used several times, on tests, "
    "classes and modules. See docs/plugin.md.")

SCOPES = ("function", "class", "module", "package", "session")
OPTIONS = frozenset({
    "name", "alias", "env", "command", "entrypoint", "ports", "volumes", "tmpfs", "memory",
    "cpus", "pids", "network", "wait", "timeout", "scope", "build", "dockerfile", "target",
    "build_args", "labels", "user", "workdir", "privileged", "read_only", "pull",
})


class MarkerError(pytest.UsageError):
    """A ``container`` marker with a bad argument."""


def _pairs(value: Mapping[str, Any] | Iterable[str] | None, what: str) -> tuple[tuple[str, str], ...]:
    if not value:
        return ()
    if isinstance(value, Mapping):
        return tuple((str(k), str(v)) for k, v in value.items())
    out = []
    for item in value:
        key, eq, val = str(item).partition("=")
        if not eq:
            raise MarkerError(f"container marker: {what} entry {item!r} is not KEY=VALUE")
        out.append((key, val))
    return tuple(out)


def _argv(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return ("sh", "-c", value)
    return tuple(str(x) for x in value)


def _ports(value: Iterable[int | str] | int | None) -> tuple[int, ...]:
    if value is None:
        return ()
    if isinstance(value, (int, str)):
        value = [value]
    out = []
    for p in value:
        try:
            out.append(int(str(p).split("/")[0]))
        except ValueError:
            raise MarkerError(f"container marker: port {p!r} is not a number") from None
    return tuple(out)


@dataclass(frozen=True)
class ContainerRequest:
    """One container a test asked for.  ``image`` is a catalog service name or an image
    reference; ``name`` is how the test finds it (``sandbox[name]``)."""

    image: str
    name: str
    env: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] | None = None
    entrypoint: str | None = None
    ports: tuple[int, ...] = ()
    volumes: tuple[tuple[str, str], ...] = ()     # (host path or volume name, target[:ro])
    tmpfs: tuple[str, ...] = ()
    memory: str | int | None = None
    cpus: float | None = None
    pids: int | None = None
    network: str | None = None                   # none | host | container:<name in sandbox>
    wait: Any = None
    timeout: float | None = None
    scope: str = "function"
    build: str | None = None
    dockerfile: str | None = None
    target: str | None = None
    build_args: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    user: str | None = None
    workdir: str | None = None
    privileged: bool = False
    read_only: bool = False
    pull: str | None = None
    extra: tuple[tuple[str, Any], ...] = field(default=(), compare=False)

    @classmethod
    def from_args(cls, image: str, **kw: Any) -> ContainerRequest:
        unknown = set(kw) - OPTIONS
        if unknown:
            raise MarkerError(
                f"container({image!r}): unknown option(s) {', '.join(sorted(unknown))}; "
                f"known: {', '.join(sorted(OPTIONS))}")
        scope = kw.get("scope") or "function"
        if scope not in SCOPES:
            raise MarkerError(f"container({image!r}): scope {scope!r} is not one of {', '.join(SCOPES)}")
        name = kw.get("name") or kw.get("alias") or _default_name(image, kw.get("build"))
        vols = kw.get("volumes") or {}
        volumes = tuple((str(k), str(v)) for k, v in (vols.items() if isinstance(vols, Mapping) else
                                                      (str(x).split(":", 1) for x in vols)))
        return cls(
            image=image, name=str(name), env=_pairs(kw.get("env"), "env"),
            command=_argv(kw.get("command")), entrypoint=kw.get("entrypoint"),
            ports=_ports(kw.get("ports")), volumes=volumes, tmpfs=tuple(kw.get("tmpfs") or ()),
            memory=kw.get("memory"), cpus=kw.get("cpus"), pids=kw.get("pids"),
            network=kw.get("network"), wait=kw.get("wait"), timeout=kw.get("timeout"),
            scope=scope, build=kw.get("build"), dockerfile=kw.get("dockerfile"),
            target=kw.get("target"), build_args=_pairs(kw.get("build_args"), "build_args"),
            labels=_pairs(kw.get("labels"), "labels"), user=kw.get("user"),
            workdir=kw.get("workdir"), privileged=bool(kw.get("privileged")),
            read_only=bool(kw.get("read_only")), pull=kw.get("pull"))

    @classmethod
    def from_marker(cls, mark: pytest.Mark) -> ContainerRequest:
        if len(mark.args) != 1 or not isinstance(mark.args[0], str):
            raise MarkerError("container marker takes one positional argument, the service "
                              f"or image name: got {mark.args!r}")
        return cls.from_args(mark.args[0], **mark.kwargs)

    def key(self) -> str:
        """A stable digest of the request (what makes two requests the same container)."""
        d = asdict(self)
        d.pop("extra")
        d["wait"] = repr(self.wait)
        return hashlib.sha256(json.dumps(d, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def _default_name(image: str, build: str | None) -> str:
    if build and image in ("", "."):
        return build.rstrip("/").rsplit("/", 1)[-1]
    base = image.rsplit("/", 1)[-1]
    return base.split("@", 1)[0].split(":", 1)[0]


def requests_for(item: pytest.Item) -> list[ContainerRequest]:
    """The containers an item asked for, in start order: module's and class's markers
    before the test's own, top decorator first, and a container whose network another
    one shares after that one.  A name taken by a closer marker is not started twice."""
    seen: dict[str, ContainerRequest] = {}
    for mark in item.iter_markers(MARKER):  # closest first
        req = ContainerRequest.from_marker(mark)
        seen.setdefault(req.name, req)
    ordered = list(seen.values())[::-1]
    out: list[ContainerRequest] = []
    pending = ordered
    while pending:
        ready = [r for r in pending if not _needs(r) or _needs(r) not in seen
                 or _needs(r) in {o.name for o in out}]
        if not ready:
            raise MarkerError(f"{item.nodeid}: containers share each other's network in a cycle")
        out.extend(ready)
        pending = [r for r in pending if r not in ready]
    return out


def _needs(req: ContainerRequest) -> str | None:
    net = req.network or ""
    return net.split(":", 1)[1] if net.startswith("container:") else None
