"""Image configuration: the runnable part (``ImageConfig``) and the whole OCI config (``Image``).

``Image.to_json()`` gives canonical bytes (sorted keys, no spaces), so an image id, the
sha256 of those bytes as in Docker, is stable.  Fields this module does not model are
kept as ``extra`` and written back unchanged on a round trip.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sbx.errors import InvalidArgument
from sbx.oci.digest import Digest

Extra = tuple[tuple[str, str], ...]  # (key, canonical JSON text) pairs, sorted by key


def canonical_json(obj: Any) -> bytes:
    """Stable JSON bytes: sorted keys, compact separators, UTF-8."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def freeze_extra(obj: Mapping[str, Any], known: Iterable[str]) -> Extra:
    skip = set(known)
    return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in obj.items() if k not in skip))


def thaw_extra(extra: Extra) -> dict[str, Any]:
    return {k: json.loads(v) for k, v in extra}


def _strs(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"image config: {what} must be a list of strings, got {value!r}")
    return tuple(value)


def _opt_strs(value: Any, what: str) -> tuple[str, ...] | None:
    return None if value is None else _strs(value, what)


def _keys(value: Any, what: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, dict):
        raise InvalidArgument(f"image config: {what} must be an object, got {value!r}")
    return tuple(sorted(value))


@dataclass(frozen=True)
class Healthcheck:
    """``HEALTHCHECK``: the test command and its timings in nanoseconds (0 = default)."""

    test: tuple[str, ...]
    interval: int = 0
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Healthcheck:
        return cls(test=_strs(obj.get("Test"), "Healthcheck.Test"),
                   interval=int(obj.get("Interval") or 0), timeout=int(obj.get("Timeout") or 0),
                   start_period=int(obj.get("StartPeriod") or 0),
                   start_interval=int(obj.get("StartInterval") or 0),
                   retries=int(obj.get("Retries") or 0))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Test": list(self.test)}
        for key, value in (("Interval", self.interval), ("Timeout", self.timeout),
                           ("StartPeriod", self.start_period),
                           ("StartInterval", self.start_interval), ("Retries", self.retries)):
            if value:
                out[key] = value
        return out


_CONFIG_KEYS = ("Env", "Cmd", "Entrypoint", "WorkingDir", "User", "Labels", "ExposedPorts",
                "Volumes", "StopSignal", "Healthcheck", "Shell", "OnBuild")


@dataclass(frozen=True)
class ImageConfig:
    """What a container started from the image runs, and how (the config's ``config`` object)."""

    env: tuple[str, ...] = ()
    cmd: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    working_dir: str = ""
    user: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    exposed_ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    stop_signal: str | None = None
    healthcheck: Healthcheck | None = None
    shell: tuple[str, ...] | None = None
    onbuild: tuple[str, ...] = ()
    extra: Extra = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any] | None) -> ImageConfig:
        if obj is None:
            return cls()
        if not isinstance(obj, Mapping):
            raise InvalidArgument(f"image config: 'config' must be an object, got {obj!r}")
        labels = obj.get("Labels") or {}
        if not isinstance(labels, dict):
            raise InvalidArgument(f"image config: Labels must be an object, got {labels!r}")
        health = obj.get("Healthcheck")
        return cls(
            env=_strs(obj.get("Env"), "Env"),
            cmd=_opt_strs(obj.get("Cmd"), "Cmd"),
            entrypoint=_opt_strs(obj.get("Entrypoint"), "Entrypoint"),
            working_dir=obj.get("WorkingDir") or "",
            user=obj.get("User") or "",
            labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
            exposed_ports=_keys(obj.get("ExposedPorts"), "ExposedPorts"),
            volumes=_keys(obj.get("Volumes"), "Volumes"),
            stop_signal=obj.get("StopSignal") or None,
            healthcheck=Healthcheck.from_json(health) if health else None,
            shell=_opt_strs(obj.get("Shell"), "Shell"),
            onbuild=_strs(obj.get("OnBuild"), "OnBuild"),
            extra=freeze_extra(obj, _CONFIG_KEYS),
        )

    def to_json(self) -> dict[str, Any]:
        out = thaw_extra(self.extra)
        if self.env:
            out["Env"] = list(self.env)
        if self.cmd is not None:
            out["Cmd"] = list(self.cmd)
        if self.entrypoint is not None:
            out["Entrypoint"] = list(self.entrypoint)
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.user:
            out["User"] = self.user
        if self.labels:
            out["Labels"] = dict(self.labels)
        if self.exposed_ports:
            out["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.volumes:
            out["Volumes"] = {v: {} for v in self.volumes}
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        if self.healthcheck is not None:
            out["Healthcheck"] = self.healthcheck.to_json()
        if self.shell is not None:
            out["Shell"] = list(self.shell)
        if self.onbuild:
            out["OnBuild"] = list(self.onbuild)
        return out

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def env_map(self) -> dict[str, str]:
        """``Env`` as a dict (a later entry wins, an entry without ``=`` maps to "")."""
        out: dict[str, str] = {}
        for item in self.env:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def with_env(self, key: str, value: str) -> ImageConfig:
        """A copy with ``key=value`` set, replacing an earlier value in place."""
        items = [e for e in self.env if e.partition("=")[0] != key]
        pos = next((i for i, e in enumerate(self.env) if e.partition("=")[0] == key), len(items))
        items.insert(pos, f"{key}={value}")
        return replace(self, env=tuple(items))

    def with_labels(self, labels: Mapping[str, str]) -> ImageConfig:
        merged = {**dict(self.labels), **labels}
        return replace(self, labels=tuple(sorted(merged.items())))


_HISTORY_KEYS = ("created", "created_by", "author", "comment", "empty_layer")


@dataclass(frozen=True)
class History:
    """One ``history`` entry: the step that made a layer (or changed only metadata)."""

    created: str | None = None
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False
    extra: Extra = ()

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> History:
        return cls(created=obj.get("created"), created_by=obj.get("created_by") or "",
                   author=obj.get("author") or "", comment=obj.get("comment") or "",
                   empty_layer=bool(obj.get("empty_layer")),
                   extra=freeze_extra(obj, _HISTORY_KEYS))

    def to_json(self) -> dict[str, Any]:
        out = thaw_extra(self.extra)
        if self.created:
            out["created"] = self.created
        for key in ("created_by", "author", "comment"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.empty_layer:
            out["empty_layer"] = True
        return out


_IMAGE_KEYS = ("architecture", "os", "variant", "os.version", "created", "author", "config",
               "rootfs", "history")


@dataclass(frozen=True)
class Image:
    """The OCI image configuration document (``application/vnd.oci.image.config.v1+json``)."""

    architecture: str = "amd64"
    os: str = "linux"
    config: ImageConfig = field(default_factory=ImageConfig)
    diff_ids: tuple[Digest, ...] = ()
    history: tuple[History, ...] = ()
    created: str | None = None
    author: str = ""
    variant: str = ""
    os_version: str = ""
    extra: Extra = ()

    @classmethod
    def from_json(cls, data: bytes | str) -> Image:
        try:
            obj = json.loads(data)
        except ValueError as exc:
            raise InvalidArgument(f"image config is not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise InvalidArgument("image config must be a JSON object")
        rootfs = obj.get("rootfs") or {}
        if rootfs and rootfs.get("type", "layers") != "layers":
            raise InvalidArgument(f"image config: unsupported rootfs type {rootfs.get('type')!r}")
        extra_rootfs = {k: v for k, v in rootfs.items() if k not in ("type", "diff_ids")}
        extra = dict(thaw_extra(freeze_extra(obj, _IMAGE_KEYS)))
        if extra_rootfs:
            extra["rootfs"] = extra_rootfs
        return cls(
            architecture=obj.get("architecture") or "",
            os=obj.get("os") or "",
            config=ImageConfig.from_json(obj.get("config")),
            diff_ids=tuple(Digest.parse(d) for d in rootfs.get("diff_ids") or ()),
            history=tuple(History.from_json(h) for h in obj.get("history") or ()),
            created=obj.get("created"),
            author=obj.get("author") or "",
            variant=obj.get("variant") or "",
            os_version=obj.get("os.version") or "",
            extra=freeze_extra(extra, ()),
        )

    def to_dict(self) -> dict[str, Any]:
        out = thaw_extra(self.extra)
        extra_rootfs = out.pop("rootfs", {})
        out.update({
            "architecture": self.architecture,
            "os": self.os,
            "config": self.config.to_json(),
            "rootfs": {**extra_rootfs, "type": "layers",
                       "diff_ids": [str(d) for d in self.diff_ids]},
        })
        if self.history:
            out["history"] = [h.to_json() for h in self.history]
        if self.created:
            out["created"] = self.created
        if self.author:
            out["author"] = self.author
        if self.variant:
            out["variant"] = self.variant
        if self.os_version:
            out["os.version"] = self.os_version
        return out

    def to_json(self) -> bytes:
        """Canonical bytes; their sha256 is the image id."""
        return canonical_json(self.to_dict())

    @property
    def id(self) -> Digest:
        return Digest.of_bytes(self.to_json())

    @property
    def platform(self) -> str:
        """``os/arch[/variant]``, as ``docker image inspect`` shows it."""
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)

    def with_layer(self, diff_id: Digest, history: History | None = None) -> Image:
        """A copy with one more layer on top (and its history entry)."""
        hist = self.history + ((history,) if history is not None else ())
        return replace(self, diff_ids=self.diff_ids + (diff_id,), history=hist)

    def with_history(self, entry: History) -> Image:
        return replace(self, history=self.history + (entry,))

    def with_config(self, config: ImageConfig) -> Image:
        return replace(self, config=config)
