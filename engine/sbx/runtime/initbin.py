"""The static init that ``--init`` runs as the container's pid 1 (Docker's docker-init).

Docker binds its ``docker-init`` (tini, built static) read-only on ``/sbin/docker-init``
and runs ``/sbin/docker-init -- <command>``; sbx does the same with Debian's
``tini-static``.  tini forwards the signals it gets to the command's process group, reaps
every zombie, and exits with the command's code (128+n when a signal ended it).  It is
exec'd like any container command: under the container's capabilities, seccomp profile
and no_new_privs setting, so pid 1 holds nothing the container does not."""

from __future__ import annotations

import os
import shutil

from sbx.errors import NotFound
from sbx.runtime.spec import Mount

TARGET = "/sbin/docker-init"   # where Docker puts it (runc creates the file if missing)
CANDIDATES = ("/usr/bin/tini-static", "/usr/local/bin/tini-static", "/usr/sbin/tini-static")


class InitNotFound(NotFound):
    pass


def find() -> str:
    """The host's static tini; it must be static, since the image may have no libc."""
    for path in (*CANDIDATES, shutil.which("tini-static") or ""):
        if path and os.access(path, os.X_OK):
            return path
    raise InitNotFound(
        "--init needs a static init (tini-static), found none in /usr/bin, /usr/local/bin "
        "or PATH", hint="install Debian's tini package (apt-get install tini), or drop --init")


def mount(host_path: str) -> Mount:
    """The read-only bind of the host's init on ``/sbin/docker-init``."""
    return Mount(type="bind", target=TARGET, source=host_path, read_only=True)


def argv(command: tuple[str, ...] | list[str]) -> list[str]:
    return [TARGET, "--", *command]
