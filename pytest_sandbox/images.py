"""Where a container's image comes from: the local store first; then a registry (pull
policy ``never|missing|always``; in offline mode the engine refuses outside registries);
then, for catalog services, a build from the bundled Debian recipe
(``recipes/<service>/Dockerfile``, ``FROM debian:bookworm`` made by ``sbx bootstrap``).
Each image is resolved under a file lock in the store, so xdist workers and concurrent
runs pull or build it once."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filelock import FileLock
from sbx.errors import ImageNotFound, SbxError

if TYPE_CHECKING:
    from pytest_sandbox.catalog import Service

BASE_IMAGE = "debian:bookworm"


class ImageUnavailable(SbxError):
    """No way to get an image (not local, not pullable, no recipe)."""


class Images:
    def __init__(self, engine_fn: Callable[[], Any], pull_policy: str,
                 say: Callable[[str], None]) -> None:
        self._engine_fn = engine_fn
        self.policy = pull_policy
        self.say = say
        self._resolved: dict[tuple[str, str], str] = {}
        self._built: dict[str, str] = {}

    @property
    def engine(self) -> Any:
        return self._engine_fn()

    def _lock(self, what: str) -> FileLock:
        d = Path(self.engine.layout.sandbox) / "locks"
        d.mkdir(mode=0o700, parents=True, exist_ok=True)
        return FileLock(str(d / (hashlib.sha256(what.encode()).hexdigest()[:24] + ".lock")), mode=0o600)

    def local(self, ref: str) -> bool:
        try:
            self.engine.images.resolve(ref)
            return True
        except (ImageNotFound, SbxError):
            return False

    # -- services and references --------------------------------------------------------
    def resolve(self, ref: str, service: Service | None = None, policy: str | None = None) -> str:
        """An image reference the engine can run right now (pulled or built if needed)."""
        policy = policy or self.policy
        key = (ref, policy)
        if key in self._resolved:
            return self._resolved[key]
        if policy != "always" and self.local(ref):  # the fast path: no lock
            self._resolved[key] = ref
            return ref
        with self._lock("image:" + ref):
            out = self._resolve_locked(ref, service, policy)
        self._resolved[key] = out
        return out

    def _resolve_locked(self, ref: str, service: Service | None, policy: str) -> str:
        if policy != "always" and self.local(ref):
            return ref
        if service is not None and service.recipe is not None and policy != "always" \
                and self.local(service.recipe_tag):
            return service.recipe_tag
        pull_error: SbxError | None = None
        if policy != "never":
            try:
                self.pull(ref)
                return ref
            except SbxError as exc:
                pull_error = exc
        if service is not None and service.recipe is not None:
            self.say(f"sandbox: no image for {service.name} ({ref}: "
                     f"{pull_error.message if pull_error else 'not in the store, pull policy never'}); "
                     f"building {service.recipe_tag} from {service.recipe} (once)")
            return self.build_recipe(service)
        how = ("pull it (sbx pull " + ref + "), load it (sbx load -i FILE), or tag a local image "
               f"as {ref} (sbx tag IMAGE {ref})")
        why = pull_error.message if pull_error else "it is not in the store and the pull policy is never"
        raise ImageUnavailable(f"no image {ref} for the sandbox: {why}", hint=how)

    def pull(self, ref: str) -> None:
        pull = getattr(self.engine, "pull", None)
        if pull is None:
            raise ImageUnavailable(f"cannot pull {ref}: this sbx has no pull",
                                   hint="import or load the image")
        self.say(f"sandbox: pulling {ref}")
        pull(ref)

    # -- builds ---------------------------------------------------------------------------
    def ensure_base(self) -> None:
        """``debian:bookworm`` for the recipes: local, pulled, or bootstrapped."""
        if self.local(BASE_IMAGE):
            return
        with self._lock("image:" + BASE_IMAGE):
            if self.local(BASE_IMAGE):
                return
            if self.policy != "never":
                try:
                    self.pull(BASE_IMAGE)
                    return
                except SbxError:
                    pass
            self.say(f"sandbox: bootstrapping {BASE_IMAGE} with mmdebstrap (once; takes a minute)")
            boot = getattr(self.engine, "bootstrap", None)
            if boot is not None:
                boot(BASE_IMAGE)
                return
            env = dict(os.environ, SBX_ROOT=str(self.engine.layout.root))
            proc = subprocess.run([sys.executable, "-m", "sbx", "bootstrap", BASE_IMAGE],
                                  env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise ImageUnavailable(f"cannot make {BASE_IMAGE}: sbx bootstrap exited "
                                       f"{proc.returncode}: {proc.stderr.strip()[-2000:]}",
                                       hint="install mmdebstrap, or provide the image (sbx load)")

    def build_recipe(self, service: Service) -> str:
        assert service.recipe is not None
        self.ensure_base()
        self.build(str(service.recipe), tag=service.recipe_tag)
        return service.recipe_tag

    def build(self, context: str, *, dockerfile: str | None = None, target: str | None = None,
              build_args: dict[str, str] | None = None, tag: str | None = None) -> str:
        """Build ``context`` once per run (and once for all workers, under a lock); returns
        the image id (or ``tag`` when given)."""
        ctx = str(Path(context).absolute())
        key = repr((ctx, dockerfile, target, sorted((build_args or {}).items()), tag))
        if key in self._built:
            return self._built[key]
        build = getattr(self.engine, "build", None)
        if build is None:
            raise ImageUnavailable(f"cannot build {ctx}: this sbx has no Dockerfile builds",
                                   hint="build the image elsewhere and load it")
        with self._lock("build:" + key):
            chunks: list[bytes] = []
            try:
                res = build(ctx, dockerfile=dockerfile, target=target, build_args=build_args,
                            tags=[tag] if tag else [], output=chunks.append)
            except SbxError as exc:
                tail = b"".join(chunks).decode("utf-8", "replace")[-3000:]
                raise ImageUnavailable(f"building {ctx} failed: {exc.message}\n{tail}",
                                       hint=exc.hint) from exc
        out = tag or str(res.image_id)
        self._built[key] = out
        return out
