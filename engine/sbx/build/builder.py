"""``Builder``: a Dockerfile and a context to an image, step by step, as Docker's classic
builder does it -- every step commits an image whose parent is the previous step's, and
its cache key (``cache.step_key``) maps to that image.

Stages are built in file order, only those the target (``--target`` or the last stage)
needs through ``FROM <stage>`` and ``COPY --from``.  Each instruction type has a handler
(``_HANDLERS``): RUN runs a temporary container (``run_step``); COPY and ADD write a layer
straight from the context (``copying``); WORKDIR adds a layer only when the directory is
missing; every other instruction changes only the config and adds no layer.  ONBUILD
triggers of a base image run right after its FROM.  The whole build holds the store's
lease, so a concurrent prune cannot take an image between two steps; a failure or Ctrl+C
leaves no container and no partial image (the last finished step stays, as a cache entry
and an untagged intermediate image, as in Docker).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, BinaryIO, TypeVar

from sbx.build import cache as cachemod
from sbx.build import config_steps, copying
from sbx.build import dockerfile as df
from sbx.build.context import BuildContext
from sbx.build.options import PROXY_ARGS, BuildOptions, BuildResult, Progress
from sbx.build.rootview import RootView
from sbx.errors import BuildError, DockerfileError, SbxError
from sbx.oci.digest import Digest
from sbx.oci.image import History, Image, ImageConfig
from sbx.oci.manifest import Platform

_I = TypeVar("_I", bound=df.Instruction)


def now_rfc3339() -> str:
    from sbx.store.store import now_rfc3339 as now

    return now()


@dataclass
class StageState:
    """The image a stage has built so far, and its ARG scope."""

    stage: df.Stage
    image: Image
    image_id: str | None              # None for scratch with no step yet
    args: dict[str, str] = field(default_factory=dict)
    cmd_set: bool = False

    @property
    def parent(self) -> str:
        return self.image_id or "scratch"

    def env(self) -> dict[str, str]:
        """What the builder expands words with: ARGs, then ENV over them."""
        return {**self.args, **self.image.config.env_map}


@dataclass
class Transcript:
    """The cache-hit form of this build's output and what it depended on (for replay)."""

    lines: list[str] = field(default_factory=list)
    bases: list[list[str]] = field(default_factory=list)      # [how, name, image id]
    sources: list[list[object]] = field(default_factory=list)  # [patterns, digest]
    replayable: bool = True


class Builder:
    def __init__(self, engine: object, options: BuildOptions, context: BuildContext,
                 dockerfile: df.Dockerfile, progress: Progress,
                 environ: dict[str, str] | None = None) -> None:
        self.engine = engine
        self.store = engine.images  # type: ignore[attr-defined]
        self.opts = options
        self.ctx = context
        self.file = dockerfile
        self.out = progress
        self.cache = cachemod.BuildCache(engine.layout)  # type: ignore[attr-defined]
        self.build_args = options.resolved_args(dict(os.environ if environ is None else environ))
        self.used_args: set[str] = set()
        self.results: dict[int, StageState] = {}
        self.meta: dict[str, str] = {}
        self.transcript = Transcript()
        self.step_no = 0
        self.total = 0
        self.steps_run = 0
        self.steps_cached = 0
        self._nat_checked = False
        self._nat_reason: str | None = None

    # -- the whole build ----------------------------------------------------------------
    def build(self) -> BuildResult:
        stages = self._needed_stages()
        target = stages[-1]
        label_step = self._label_instruction() if self.opts.labels else None
        self.total = sum(1 + len(s.instructions) for s in stages) + (1 if label_step else 0)
        self.meta = self._meta_args()
        with self.store.lease():
            for stage in stages:
                st = self._from(stage, self.meta)
                for instr in stage.instructions:
                    self._step(st, instr)
                if stage is target and label_step is not None:
                    self._step(st, label_step)
                self.results[stage.index] = st
            final = self.results[target.index]
            if final.image_id is None:
                raise BuildError("cannot build an empty image: the stage is FROM scratch with no step",
                                 hint="add an instruction that creates a file, e.g. COPY")
            for tag in self.opts.tags:
                self.store.tag(final.image_id, tag)
        unused = sorted(set(self.build_args) - self.used_args - PROXY_ARGS)
        warnings = (f"[Warning] One or more build-args {unused} were not consumed",) if unused else ()
        return BuildResult(final.image_id, self.opts.tags, self.steps_run, self.steps_cached, warnings)

    def _needed_stages(self) -> list[df.Stage]:
        stages = self.file.stages
        target = stages[-1]
        if self.opts.target:
            try:
                target = self.file.stage(self.opts.target)
            except DockerfileError:
                names = ", ".join(s.name for s in stages if s.name) or "none"
                raise BuildError(f"failed to reach build target {self.opts.target} in {self.file.path}",
                                 hint=f"stages named in the file: {names}") from None
        needed = {target.index}
        for stage in reversed(stages[: target.index + 1]):
            if stage.index not in needed:
                continue
            for dep in self._stage_deps(stage):
                needed.add(dep)
        return [s for s in stages if s.index in needed]

    def _stage_deps(self, stage: df.Stage) -> list[int]:
        names = {s.name: s.index for s in self.file.stages[: stage.index] if s.name}
        deps = []
        base = stage.base.lower()
        if base in names:
            deps.append(names[base])
        for instr in stage.instructions:
            ref = getattr(instr, "from_", None)
            if ref:
                ref = ref.lower()
                if ref in names:
                    deps.append(names[ref])
                elif ref.isdecimal():
                    if int(ref) >= stage.index:
                        raise DockerfileError(f"COPY --from={ref}: a stage can only copy from an earlier stage",
                                              path=self.file.path, line=instr.line)
                    deps.append(int(ref))
        return deps

    def _label_instruction(self) -> df.Instruction:
        import json

        text = "LABEL " + " ".join(f"{json.dumps(k)}={json.dumps(v)}" for k, v in self.opts.labels)
        return df.parse(f"FROM scratch\n{text}\n", path="--label").stages[0].instructions[0]

    def _meta_args(self) -> dict[str, str]:
        meta: dict[str, str] = {}
        for arg in self.file.args_before_from:
            expanded = self._expand(arg, meta)
            for a in expanded.args:
                self.used_args.add(a.key)
                if a.key in self.build_args:
                    meta[a.key] = self.build_args[a.key]
                elif a.default is not None:
                    meta[a.key] = a.default
        return meta

    # -- FROM ---------------------------------------------------------------------------
    def _from(self, stage: df.Stage, meta: dict[str, str]) -> StageState:
        self._header(stage.header.original)
        base = self._expand(stage.header, meta).base
        named = {s.name: s.index for s in self.file.stages[: stage.index] if s.name}
        if base.lower() in named:
            prev = self.results[named[base.lower()]]
            st = StageState(stage, prev.image, prev.image_id)
            self.transcript.bases.append(["stage", base, prev.parent])
        elif base == "scratch":
            plat = Platform.current()
            st = StageState(stage, Image(architecture=plat.architecture, os=plat.os,
                                         variant=plat.variant), None)
            self.transcript.bases.append(["scratch", base, ""])
        else:
            image_id, image, how, canonical = self._base_image(base, stage.header.line)
            st = StageState(stage, image, image_id)
            self.transcript.bases.append([how, canonical, image_id])
        self._line(f" ---> {self._short(st.image_id)}")
        if st.image.config.onbuild:
            self._triggers(st, meta)
        return st

    def _base_image(self, name: str, line: int) -> tuple[str, Image, str, str]:
        from sbx.errors import NoSuchImage
        from sbx.oci.reference import Reference

        record = None
        if not self.opts.pull:
            try:
                record, how = self.store._resolve(name)
            except NoSuchImage:
                record = None
            except SbxError as err:
                raise DockerfileError(f"invalid base image {name!r}: {err.message}",
                                      path=self.file.path, line=line) from None
        if record is None:
            record, how = self._pull(name, line), "tag"
        canonical = str(Reference.parse(name)) if how == "tag" else str(record.id)
        return str(record.id), record.image, how, canonical

    def _pull(self, name: str, line: int) -> Any:
        try:
            from sbx.images.pull import pull

            return pull(self.store, name).image
        except ImportError:
            reason = "pulling is not available in this sbx"
        except SbxError as err:
            reason = err.message
        raise BuildError(f"{self.file.path}:{line}: base image {name!r} not found locally and "
                         f"cannot be pulled: {reason}",
                         hint="import it (sbx import / sbx load), bootstrap it (sbx bootstrap), "
                              "or pull it while online")

    def _triggers(self, st: StageState, meta: dict[str, str]) -> None:
        triggers = st.image.config.onbuild
        self._line(f"# Executing {len(triggers)} build trigger{'s' if len(triggers) > 1 else ''}")
        st.image = st.image.with_config(replace(st.image.config, onbuild=()))
        for expression in triggers:
            parsed = df.parse(f"FROM scratch\n{expression}\n", path=f"ONBUILD {expression!r}")
            for instr in parsed.stages[0].instructions:
                self._run_handler(st, instr)

    # -- one step -----------------------------------------------------------------------
    def _header(self, original: str) -> None:
        self.step_no += 1
        self._line(f"Step {self.step_no}/{self.total} : {original}")

    def _line(self, text: str, *, cached_form: bool = True) -> None:
        self.out.line(text)
        if cached_form:
            self.transcript.lines.append(text)

    @staticmethod
    def _short(image_id: str | None) -> str:
        return image_id.split(":", 1)[-1][:12] if image_id else ""

    def _step(self, st: StageState, instr: df.Instruction) -> None:
        self._header(instr.original)
        self._run_handler(st, instr)

    def _run_handler(self, st: StageState, instr: df.Instruction) -> None:
        handler = _HANDLERS.get(type(instr).__name__, Builder._metadata)
        handler(self, st, instr)

    def _expand(self, instr: _I, env: dict[str, str]) -> _I:
        return instr.expand(env, escape=self.file.escape, path=self.file.path)

    def _where(self, instr: df.Instruction) -> str:
        return f"{self.file.path}:{instr.line}"

    def _lookup(self, st: StageState, key: str) -> bool:
        """Use a cached step if there is one whose image is still whole."""
        if self.opts.no_cache:
            return False
        entry = self.cache.get(key)
        if entry is None:
            return False
        try:
            digest = Digest.parse(entry.image)
            if not self.store.records.has(digest):
                raise BuildError("gone")
            image = Image.from_json(self.store.blobs.read(digest, verify=False))
            if not all(self.store.layers.has(d) for d in image.diff_ids):
                raise BuildError("layer gone")
        except (SbxError, OSError, ValueError):
            self.cache.forget(key)
            return False
        st.image, st.image_id = image, entry.image
        self.steps_cached += 1
        self._line(" ---> Using cache", cached_form=False)
        self._line(f" ---> {self._short(entry.image)}", cached_form=False)
        self.transcript.lines.extend([" ---> Using cache", f" ---> {self._short(entry.image)}"])
        return True

    def _commit(self, st: StageState, image: Image, key: str, *, pseudo_container: bool) -> None:
        if pseudo_container:
            cid = secrets.token_hex(32)  # the classic builder's output names a container per step
            self._line(f" ---> Running in {cid[:12]}", cached_form=False)
            self._line(f"Removing intermediate container {cid[:12]}", cached_form=False)
        parent = Digest.parse(st.image_id) if st.image_id else None
        record = self.store.commit_image(image, parent=parent)
        st.image, st.image_id = image, str(record.id)
        self.cache.put(key, st.image_id, time.time())
        self.steps_run += 1
        self._line(f" ---> {record.short_id}", cached_form=False)
        self.transcript.lines.extend([" ---> Using cache", f" ---> {record.short_id}"])

    def _new_image(self, st: StageState, config: ImageConfig, created_by: str, *,
                   layer: Digest | None = None) -> Image:
        created = now_rfc3339()
        hist = History(created=created, created_by=created_by, empty_layer=layer is None)
        image = replace(st.image, config=config, created=created)
        return image.with_layer(layer, hist) if layer is not None else image.with_history(hist)

    def _view(self, st: StageState) -> RootView:
        return RootView([self.store.layer_path(d) for d in st.image.diff_ids])

    # -- handlers -----------------------------------------------------------------------
    def _metadata(self, st: StageState, instr: df.Instruction) -> None:
        expanded = self._expand(instr, st.env())
        key = cachemod.step_key(st.parent, expanded.canonical())
        if self._lookup(st, key):
            self._after_metadata(st, expanded)
            return
        config = config_steps.apply(expanded, st.image.config, cmd_set_here=st.cmd_set,
                                    where=self._where(instr))
        image = self._new_image(st, config, config_steps.created_by(expanded, config))
        if isinstance(expanded, df.Maintainer):
            image = replace(image, author=expanded.name)
        self._commit(st, image, key, pseudo_container=True)
        self._after_metadata(st, expanded)

    def _after_metadata(self, st: StageState, expanded: df.Instruction) -> None:
        if isinstance(expanded, df.Cmd):
            st.cmd_set = True

    def _arg(self, st: StageState, instr: df.Arg) -> None:
        expanded = self._expand(instr, st.env())
        for a in expanded.args:
            self.used_args.add(a.key)
            if a.key in self.build_args:
                st.args[a.key] = self.build_args[a.key]
            elif a.default is not None:
                st.args[a.key] = a.default
            elif a.key in self.meta:
                st.args[a.key] = self.meta[a.key]
        key = cachemod.step_key(st.parent, expanded.canonical(), dict(st.args))
        if self._lookup(st, key):
            return
        image = self._new_image(st, st.image.config, f"{config_steps.NOP} {instr.original}")
        self._commit(st, image, key, pseudo_container=True)

    def _nat_missing(self) -> str | None:
        """Why RUN steps cannot reach out through the NAT here, asked once per build (and
        said once, as a warning); None when they can."""
        if self._nat_checked:
            return self._nat_reason
        from sbx.runtime.outbound import unavailable

        self._nat_checked, self._nat_reason = True, unavailable()
        if self._nat_reason is not None:
            self._line(f"[Warning] RUN steps have no outbound network (loopback only): "
                       f"{self._nat_reason}; --network host gives them the host's",
                       cached_form=False)
        return self._nat_reason

    def _run(self, st: StageState, instr: df.Run) -> None:
        from sbx.build.run_step import run_container, step_network

        if instr.mounts:
            raise BuildError(f"{self._where(instr)}: RUN --mount is not supported yet",
                             hint="copy what the command needs with COPY instead")
        if instr.security == "insecure":
            raise BuildError(f"{self._where(instr)}: RUN --security=insecure is not supported")
        config = st.image.config
        argv = list(self._run_argv(instr, config))
        env_map = config.env_map
        scope = {k: v for k, v in st.args.items() if k not in env_map}
        proxies = {k: v for k, v in self.build_args.items() if k in PROXY_ARGS and k not in scope}
        self.used_args.update(proxies)
        key = cachemod.step_key(st.parent, instr.canonical(), scope)
        if self._lookup(st, key):
            return
        env = [f"{k}={v}" for k, v in {**scope, **proxies}.items()]
        net = step_network(self.opts.network, instr.network,
                           host_allowed=self.opts.host_network_allowed,
                           nat_missing=self._nat_missing, where=self._where(instr))
        view = self._view(st)
        result = run_container(
            self.engine, st.parent, argv, env=env, workdir=config.working_dir, user=config.user,
            network=net.mode, outbound=net.outbound, view=view,
            scratch=self.engine.layout.tmp,  # type: ignore[attr-defined]
            on_start=lambda cid: self._line(f" ---> Running in {cid[:12]}", cached_form=False),
            on_output=self.out.raw)
        try:
            layer = None
            if result.layer_tar is not None:
                layer = self.store.add_layer_from_tar(result.layer_tar).diff_id
        finally:
            if result.layer_tar is not None:
                with contextlib.suppress(OSError):
                    result.layer_tar.unlink()
        self._line(f"Removing intermediate container {result.container_id[:12]}", cached_form=False)
        shown = " ".join(argv)
        if scope:
            shown = f"|{len(scope)} " + " ".join(f"{k}={v}" for k, v in scope.items()) + " " + shown
        image = self._new_image(st, config, shown, layer=layer)
        self._commit(st, image, key, pseudo_container=False)

    @staticmethod
    def _run_argv(instr: df.Run, config: ImageConfig) -> tuple[str, ...]:
        if instr.command.exec_form or not instr.heredocs:
            return config_steps.argv_of(instr.command, config)
        text = instr.command.args[0]
        shell = config_steps.shell_of(config)
        if len(instr.heredocs) == 1 and text.strip().startswith("<<") and " " not in text.strip():
            return (*shell, instr.heredocs[0].data)  # RUN <<EOF: the body is the script
        body = "".join(d.content + d.name + "\n" for d in instr.heredocs)
        return (*shell, f"{text}\n{body}")

    def _workdir(self, st: StageState, instr: df.Workdir) -> None:
        expanded = self._expand(instr, st.env())
        path = config_steps.workdir_path(expanded.path, st.image.config)
        key = cachemod.step_key(st.parent, expanded.canonical() + "\0" + path)
        if self._lookup(st, key):
            return
        config = config_steps.apply(expanded, st.image.config, cmd_set_here=st.cmd_set,
                                    where=self._where(instr))
        view = self._view(st)
        layer = None
        if not view.is_dir(path):
            layer = self._layer(lambda out: _workdir_layer(out, view, path))
        image = self._new_image(st, config, config_steps.created_by(expanded, config), layer=layer)
        self._commit(st, image, key, pseudo_container=True)

    def _layer(self, write: Callable[[BinaryIO], None]) -> Digest:
        scratch = self.engine.layout.tmp  # type: ignore[attr-defined]
        scratch.mkdir(parents=True, exist_ok=True)
        path = scratch / f"build-layer-{os.getpid()}-{secrets.token_hex(4)}.tar"
        try:
            with open(path, "wb") as f:
                write(f)
            return self.store.add_layer_from_tar(path).diff_id
        finally:
            with contextlib.suppress(OSError):
                path.unlink()

    def _copy(self, st: StageState, instr: df.Copy | df.Add) -> None:
        from sbx.build.sources import collect

        expanded = self._expand(instr, st.env())
        what = instr.keyword
        if getattr(expanded, "parents", False) or expanded.excludes:
            raise BuildError(f"{self._where(instr)}: {what} --parents and --exclude are not supported yet")
        sources = collect(self, st, expanded, what)
        key = cachemod.step_key(st.parent, expanded.canonical(), None, sources.digest)
        if sources.context_patterns is not None:
            self.transcript.sources.append([sources.context_patterns, sources.digest])
        else:
            self.transcript.replayable = self.transcript.replayable and sources.replayable
        if self._lookup(st, key):
            return
        view = self._view(st)
        owner = copying.parse_chown(expanded.chown, view)
        chmod = copying.parse_chmod(expanded.chmod)
        layer = self._layer(lambda out: copying.write_layer(
            out, view, expanded.dest, st.image.config.working_dir, sources.items, owner=owner,
            chmod=chmod, multiple=sources.multiple, what=what))
        created_by = f"{config_steps.NOP} {what} {sources.summary} in {expanded.dest} "
        image = self._new_image(st, st.image.config, created_by, layer=layer)
        self._commit(st, image, key, pseudo_container=False)


def _workdir_layer(out: BinaryIO, view: RootView, path: str) -> None:
    layer = copying.LayerTar(out, view, None)
    try:
        layer.parents(path + "/x")
    finally:
        layer.close()


_HANDLERS: dict[str, Callable[[Builder, StageState, df.Instruction], None]] = {
    "Run": Builder._run,  # type: ignore[dict-item]
    "Copy": Builder._copy,  # type: ignore[dict-item]
    "Add": Builder._copy,  # type: ignore[dict-item]
    "Workdir": Builder._workdir,  # type: ignore[dict-item]
    "Arg": Builder._arg,  # type: ignore[dict-item]
}

__all__ = ["Builder", "StageState"]
