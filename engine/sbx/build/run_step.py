"""RUN: a temporary container from the previous step's image, its output streamed, its
filesystem changes (the overlay upper dir) turned into a layer tar, then removed.

The container gets a network namespace of its own by default, with outbound access
through the user-space NAT (``sbx.runtime.outbound``) and none of the host's loopback
services or abstract unix sockets; ``--network none`` gives it loopback only and
``--network host`` the host's (only when asked).  It runs as the image's USER in its
WORKDIR with the image's ENV plus the build args in scope.  The mount points sbx adds when the image lacks them (``/etc/hosts``,
``/etc/hostname``, ``/etc/resolv.conf``, ``/dev``, ``/proc``, ``/sys``) are dropped from
the diff, as Docker drops them.  Whatever happens (a failing command, Ctrl+C), the
container is removed before this returns.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sbx.build.rootview import RootView
from sbx.errors import BuildError, SbxError

MOUNT_POINT_FILES = ("etc/hosts", "etc/hostname", "etc/resolv.conf")
MOUNT_POINT_DIRS = ("dev", "proc", "sys", "etc")


@dataclass(frozen=True)
class RunResult:
    """The container's id and, if the command changed files, the layer tar it left."""

    container_id: str
    layer_tar: Path | None


@dataclass(frozen=True)
class StepNetwork:
    """The network of one RUN container: a container network mode and, for ``private``,
    whether it reaches out through the NAT."""

    mode: str       # private | none | host
    outbound: bool = False


def step_network(build: str, flag: str | None, *, host_allowed: bool,
                 nat_missing: Callable[[], str | None], where: str) -> StepNetwork:
    """Docker's rules: ``RUN --network=default`` (or no flag) takes the build's
    ``--network``; ``default`` is a private namespace with outbound access; ``none``
    loopback only; ``host`` the host's, which a Dockerfile may ask for only with the
    ``network.host`` entitlement (``--allow network.host``, or ``--network host``, as
    BuildKit).  Where the NAT cannot run (``nat_missing``), a default step gets loopback
    only (the builder says so once); it is asked only for such a step."""
    mode = flag if flag in ("none", "host") else build
    if flag == "host" and not host_allowed:
        raise BuildError(f"{where}: RUN --network=host needs the network.host entitlement",
                         hint="build with --allow network.host (or --network host)")
    if mode == "host":
        return StepNetwork("host")
    if mode == "none":
        return StepNetwork("none")
    return StepNetwork("private", outbound=nat_missing() is None)


def _is_empty_dir(path: Path) -> bool:
    try:
        return not any(os.scandir(path))
    except OSError:
        return False


def drop_mount_points(upper: Path, view: RootView) -> None:
    """Remove the empty mount-point files and dirs the runtime created in ``upper``, and
    the directories copied up only to hold them (same owner and mode as below)."""
    from sbx.layers.whiteouts import is_overlay_opaque

    for rel in MOUNT_POINT_FILES:
        p = upper / rel
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_size == 0 and not view.exists("/" + rel):
            p.unlink()
    for rel in MOUNT_POINT_DIRS:
        p = upper / rel
        try:
            st = os.lstat(p)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) or not _is_empty_dir(p) or is_overlay_opaque(p):
            continue
        _, _, below = view.resolve("/" + rel, follow=False)
        if below is None or (stat.S_ISDIR(below.st_mode) and below.st_mode == st.st_mode
                             and (below.st_uid, below.st_gid) == (st.st_uid, st.st_gid)):
            with contextlib.suppress(OSError):
                p.rmdir()


def run_container(engine: object, image_id: str, argv: list[str], *, env: list[str],
                  workdir: str, user: str, network: str, view: RootView, scratch: Path,
                  on_start: Callable[[str], None], on_output: Callable[[bytes], None],
                  outbound: bool = False) -> RunResult:
    """Run ``argv`` in a container of ``image_id``; raises ``BuildError`` on non-zero exit.
    ``network`` is a container network mode (private, none, host); ``outbound`` gives a
    private one the NAT."""
    from sbx.layers.diff import diff
    from sbx.runtime.spec import RunOptions

    opts = RunOptions(command=tuple(argv), entrypoint="", env=tuple(env),
                      workdir=workdir or "/", user=user or None, network=network,
                      outbound=outbound)
    rec = engine.create(image_id, opts)  # type: ignore[attr-defined]
    cid = rec.id
    tar_path: Path | None = None
    try:
        on_start(cid)
        read_fd, write_fd = os.pipe()
        try:
            started = engine.start(cid, attached=True,  # type: ignore[attr-defined]
                                   output_fds=(write_fd, write_fd))
        finally:
            os.close(write_fd)
        try:
            while True:
                chunk = os.read(read_fd, 65536)
                if not chunk:
                    break
                on_output(chunk)
        finally:
            os.close(read_fd)
        code = started.wait_exit()
        if code != 0:
            raise BuildError(f"The command '{' '.join(argv)}' returned a non-zero code: {code}",
                             hint=_single_map_note())
        files = engine.containers.files(cid)  # type: ignore[attr-defined]
        upper = files.upper
        drop_mount_points(upper, view)
        if files.driver() == "copy":  # the whole root: compare it with the image again
            from sbx.layers.diff import write_tar
            from sbx.layers.flatten import changes

            entries = list(changes(upper, view))
            if entries:
                scratch.mkdir(parents=True, exist_ok=True)
                tar_path = scratch / f"build-run-{cid[:12]}.tar"
                with open(tar_path, "wb") as out:
                    write_tar(iter(entries), out)
        elif not _is_empty_dir(upper):
            scratch.mkdir(parents=True, exist_ok=True)
            tar_path = scratch / f"build-run-{cid[:12]}.tar"
            with open(tar_path, "wb") as out:
                diff(upper, out)
        return RunResult(cid, tar_path)
    except BaseException:
        if tar_path is not None:
            with contextlib.suppress(OSError):
                tar_path.unlink()
        raise
    finally:
        with contextlib.suppress(SbxError):
            engine.remove(cid, force=True)  # type: ignore[attr-defined]


def _single_map_note() -> str | None:
    """Rootless with a single-id map: the likely cause of a failing RUN (apt-get's switch
    to _apt, chown to another id) said plainly; None otherwise."""
    from sbx.rootless.idmap import current

    mode = current()
    if not mode.rootless or mode.full_map:
        return None
    return ("rootless without subordinate ids: only uid 0 exists in the container, so "
            "apt-get's switch to _apt and files of other users fail; as root, once: "
            "usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER "
            "(and install uidmap), then end the old namespace holder: sbx system migrate")
