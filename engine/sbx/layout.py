"""The one place where on-disk paths are computed (state root and runtime root).

Root's store lives in ``/var/lib/sbx`` with runtime files under ``/run/sbx``; an ordinary
user's (rootless mode) in ``$XDG_DATA_HOME/sbx`` (``~/.local/share/sbx``) with runtime files
under ``$XDG_RUNTIME_DIR/sbx`` (or a private ``/tmp/sbx-run-<uid>``).  ``SBX_ROOT``/``--root``
moves the store, and then runtime files go to ``<root>/run`` unless ``SBX_RUNROOT`` says
otherwise.  Nothing else in sbx builds a path under these roots by
hand: add a property here instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

LAYOUT_VERSION = 1
DEFAULT_ROOT = Path("/var/lib/sbx")
DEFAULT_RUNROOT = Path("/run/sbx")

# Who may look inside the store, as Docker's /var/lib/docker: the root directory 0710 (root
# and its group may pass, nobody else may even list it), every directory of the store's
# own 0700 (volumes 0701), lock files 0600; a rootless store 0700 throughout.  Below these
# directories nothing is tightened: a layer's or a container's files keep their modes (the
# container sees them through its overlay mount, not through these paths).
ROOT_MODE = 0o710
ROOTLESS_MODE = 0o700
LOCK_FILE_MODE = 0o600
STORE_DIR_MODES = {"blobs": 0o700, "images": 0o700, "layers": 0o700, "locks": 0o700,
                   "tmp": 0o700, "containers": 0o700, "names": 0o700, "build-cache": 0o700,
                   "sandbox": 0o700, "volumes": 0o701}


@dataclass(frozen=True)
class Layout:
    root: Path
    runroot: Path

    @classmethod
    def from_env(cls, root: str | os.PathLike[str] | None = None,
                 runroot: str | os.PathLike[str] | None = None) -> Layout:
        env_root = root or os.environ.get("SBX_ROOT")
        env_run = runroot or os.environ.get("SBX_RUNROOT")
        if env_root:
            r = Path(env_root).absolute()
        else:
            from sbx.rootless.idmap import current

            mode = current()
            if mode.rootless:
                r = user_data_home(mode.host_uid) / "sbx"
                return cls(r, Path(env_run).absolute() if env_run else user_runtime_dir(mode.host_uid))
            r = DEFAULT_ROOT
        if env_run:
            rr = Path(env_run).absolute()
        elif r == DEFAULT_ROOT:
            rr = DEFAULT_RUNROOT
        else:
            rr = r / "run"
        return cls(r, rr)

    def check_owner(self) -> None:
        """(rootless) The store must be the user's own: another user's (or root's) store is
        refused up front, before anything is written to it.  A new one is made private
        (mode 0700), so other users cannot even list its containers."""
        try:
            owner = os.stat(self.root).st_uid
        except FileNotFoundError:
            self.root.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.mkdir(self.root, 0o700)
            except FileExistsError:
                pass
            return
        if owner != os.geteuid():
            from sbx.errors import PermissionDenied

            raise PermissionDenied(f"the store {self.root} belongs to another user (uid {owner})",
                                   hint="use your own store (unset SBX_ROOT; it defaults to "
                                        "~/.local/share/sbx) or run sbx as that user")

    def make_private(self, *, rootless: bool = False) -> None:
        """Give the store and the runtime root their modes (see ``STORE_DIR_MODES``).

        One ``stat`` of each root when they are right (every process that opens the store
        pays only that); when a root's mode is not the expected one (a new store, or one
        made before this rule: ``/var/lib/sbx`` was 0755 with readable blobs, image
        configs and lock files), its directories are created or fixed once.  A directory
        owned by somebody else is left alone (``check_owner`` refuses it in rootless mode)."""
        top = ROOTLESS_MODE if rootless else ROOT_MODE
        if _fix_mode(self.root, top):
            for name, mode in STORE_DIR_MODES.items():
                _fix_mode(self.root / name, ROOTLESS_MODE if rootless else mode)
            try:
                with os.scandir(self.locks) as it:
                    for e in it:
                        if e.is_file(follow_symlinks=False):
                            os.chmod(e.path, LOCK_FILE_MODE, follow_symlinks=False)
            except OSError:
                pass
        if _fix_mode(self.runroot, ROOTLESS_MODE if rootless else ROOT_MODE):
            _fix_mode(self.runroot / "containers", 0o700)

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


def _fix_mode(path: Path, mode: int) -> bool:
    """Make ``path`` a directory of ``mode``; True when something had to be done."""
    import stat as stat_mod

    try:
        st = os.lstat(path)
    except FileNotFoundError:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(path, mode)
            os.chmod(path, mode)  # past the umask
        except FileExistsError:
            pass
        except OSError:
            return False  # not ours to create (a read-only or foreign place): leave it
        return True
    except OSError:
        return False
    if not stat_mod.S_ISDIR(st.st_mode) or stat_mod.S_IMODE(st.st_mode) == mode:
        return False
    if st.st_uid != os.geteuid() or st.st_mode & stat_mod.S_ISVTX or _shared_place(path):
        return False  # somebody else's, or a shared place (SBX_ROOT=/tmp): never tightened
    try:
        os.chmod(path, mode, follow_symlinks=False)
    except OSError:
        return False
    return True


_SHARED = frozenset({"/", "/tmp", "/var", "/var/tmp", "/var/lib", "/run", "/var/run", "/home",
                     "/root", "/dev/shm", "/srv", "/opt", "/usr", "/etc", "/mnt", "/media"})


def _shared_place(path: Path) -> bool:
    p = os.path.abspath(path)
    return p in _SHARED or p == os.path.abspath(os.path.expanduser("~"))


def _home(uid: int) -> Path:
    home = os.environ.get("HOME")
    if home:
        try:
            if os.stat(home).st_uid == os.geteuid():
                return Path(home)
        except OSError:
            pass
    import pwd

    try:
        return Path(pwd.getpwuid(uid).pw_dir)
    except KeyError:
        return Path(home or "/")


def user_data_home(uid: int) -> Path:
    """``$XDG_DATA_HOME`` or ``~/.local/share`` of the user ``uid`` acts for."""
    xdg = os.environ.get("XDG_DATA_HOME")
    return Path(xdg).absolute() if xdg else _home(uid) / ".local" / "share"


def user_runtime_dir(uid: int) -> Path:
    """``$XDG_RUNTIME_DIR/sbx`` when that is the user's, else ``/tmp/sbx-run-<uid>``
    (created private; one owned by somebody else is refused, not used)."""
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        try:
            if os.stat(xdg).st_uid == os.geteuid():
                return Path(xdg) / "sbx"
        except OSError:
            pass
    path = Path(f"/tmp/sbx-run-{uid}")
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    import stat as stat_mod

    if not stat_mod.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
        from sbx.errors import PermissionDenied

        raise PermissionDenied(f"{path} is not a private directory of this user",
                               hint="remove it, or set XDG_RUNTIME_DIR or SBX_RUNROOT")
    return path
