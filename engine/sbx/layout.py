"""The one place where on-disk paths are computed (state root and runtime root).

Root's store lives in ``/var/lib/sbx`` with runtime files under ``/run/sbx``;
``SBX_ROOT``/``--root`` moves the store, and then runtime files go to ``<root>/run`` unless
``SBX_RUNROOT`` says otherwise.  Nothing else in sbx builds a path under these roots by
hand: add a property here instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

LAYOUT_VERSION = 1
DEFAULT_ROOT = Path("/var/lib/sbx")
DEFAULT_RUNROOT = Path("/run/sbx")


@dataclass(frozen=True)
class Layout:
    root: Path
    runroot: Path

    @classmethod
    def from_env(cls, root: str | os.PathLike[str] | None = None,
                 runroot: str | os.PathLike[str] | None = None) -> Layout:
        env_root = root or os.environ.get("SBX_ROOT")
        r = Path(env_root).absolute() if env_root else DEFAULT_ROOT
        env_run = runroot or os.environ.get("SBX_RUNROOT")
        if env_run:
            rr = Path(env_run).absolute()
        elif r == DEFAULT_ROOT:
            rr = DEFAULT_RUNROOT
        else:
            rr = r / "run"
        return cls(r, rr)

    # -- store -------------------------------------------------------------
    @property
    def blobs(self) -> Path:
        """Content-addressed blobs: ``blobs/sha256/<hex>``."""
        return self.root / "blobs" / "sha256"

    @property
    def layers(self) -> Path:
        """Unpacked layers, one directory per diff id: ``layers/<hex>/``."""
        return self.root / "layers"

    @property
    def images(self) -> Path:
        """Image records (``images/<config-hex>.json``) and the tag index."""
        return self.root / "images"

    @property
    def tags_file(self) -> Path:
        return self.images / "tags.json"

    @property
    def build_cache(self) -> Path:
        return self.root / "build-cache"

    @property
    def tmp(self) -> Path:
        """Scratch space on the store's filesystem, for atomic renames."""
        return self.root / "tmp"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    # -- containers ----------------------------------------------------------
    @property
    def containers(self) -> Path:
        return self.root / "containers"

    def container_dir(self, cid: str) -> Path:
        return self.containers / cid

    def container_run_dir(self, cid: str) -> Path:
        return self.runroot / "containers" / cid

    @property
    def names_dir(self) -> Path:
        """Name reservations: ``names/<name>`` holds the container id."""
        return self.root / "names"

    def volume_dir(self, name: str) -> Path:
        """A named or anonymous volume's data directory: ``volumes/<name>/_data``."""
        return self.root / "volumes" / name / "_data"

    def lock_path(self, name: str) -> Path:
        return self.locks / f"{name}.lock"

    # -- build cache (appended by the builder) ---------------------------------------
    @property
    def build_cache_steps(self) -> Path:
        """One entry per cached build step: ``build-cache/steps/<key-hex>.json``."""
        return self.build_cache / "steps"

    @property
    def build_cache_builds(self) -> Path:
        """Whole-build records for the fast cache-hit path: ``build-cache/builds/<key>.json``."""
        return self.build_cache / "builds"

    @property
    def sandbox(self) -> Path:
        """The pytest plugin's files: ``sandbox/{locks,runs/<run id>,kept}`` (shared session
        containers of xdist runs, image locks, containers kept for debugging)."""
        return self.root / "sandbox"
