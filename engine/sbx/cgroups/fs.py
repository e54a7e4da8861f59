"""Reading and writing cgroupfs files, with errors that name the file, the errno and a hint.

Files are opened the way runc's ``cgroups.WriteFile`` does: ``O_WRONLY|O_TRUNC`` and never
``O_CREAT``, so writing a control file that the kernel did not create fails with ENOENT
(the controller is not enabled or not mounted) instead of leaving a stray regular file,
and the same code runs against a fake tree of regular files in unit tests.

Every write goes through :meth:`CgroupFiles.write`, which makes it the one place to record
writes in tests (subclass and override) or log them (``logging`` at DEBUG).
"""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path, PurePosixPath

from sbx.diag import get_logger
from sbx.errors import CgroupError, InvalidArgument

log = get_logger(__name__)

_HINTS = {
    errno.ENOENT: "the controller is not mounted or not enabled for this cgroup",
    errno.EBUSY: "the cgroup still has processes or child cgroups, or the new limit is "
                 "below what is in use",
    errno.EACCES: "cgroups need root or a delegated cgroup subtree",
    errno.EPERM: "cgroups need root or a delegated cgroup subtree",
    errno.EROFS: "/sys/fs/cgroup is mounted read-only here (inside a container?)",
    errno.EINVAL: "the kernel rejected the value",
    errno.ENOSPC: "the cpuset of this cgroup is empty (cpuset.cpus/cpuset.mems), or the "
                  "cgroup nesting limit is reached",
    errno.EOPNOTSUPP: "the kernel does not support this operation on this cgroup",
    errno.ESRCH: "the process has already exited",
}


class CgroupFileError(CgroupError):
    """A cgroupfs operation failed; carries the path and errno."""

    def __init__(self, action: str, path: Path, err: int, *, hint: str | None = None) -> None:
        super().__init__(f"cannot {action} {path}: {os.strerror(err)} (errno {err})",
                         hint=hint or _HINTS.get(err))
        self.path = path
        self.errno = err


class CgroupFiles:
    """The thin layer between the managers and cgroupfs (or a fake tree of regular files)."""

    def write(self, path: Path, value: str | int) -> None:
        """Write one value to a control file, raising :class:`CgroupFileError` on failure."""
        data = str(value).encode()
        log.debug("cgroup write %s <- %r", path, data)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
        except OSError as exc:
            raise CgroupFileError(f"write {value!r} to", path, exc.errno or errno.EIO) from exc
        try:
            os.write(fd, data)
        except OSError as exc:
            raise CgroupFileError(f"write {value!r} to", path, exc.errno or errno.EIO) from exc
        finally:
            os.close(fd)

    def read(self, path: Path) -> str:
        """The text of a control file, raising :class:`CgroupFileError` on failure."""
        try:
            return path.read_text()
        except OSError as exc:
            raise CgroupFileError("read", path, exc.errno or errno.EIO) from exc

    def read_optional(self, path: Path) -> str | None:
        """The text of a control file, or None if it does not exist (or the cgroup is gone)."""
        try:
            return path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ENODEV:  # removed under us
                return None
            raise CgroupFileError("read", path, exc.errno or errno.EIO) from exc

    def exists(self, path: Path) -> bool:
        return path.exists()

    def mkdir(self, path: Path) -> bool:
        """Create one cgroup directory; True if this call created it, False if it existed."""
        try:
            path.mkdir()
        except FileExistsError:
            return False
        except OSError as exc:
            raise CgroupFileError("create cgroup", path, exc.errno or errno.EIO) from exc
        log.debug("cgroup mkdir %s", path)
        return True

    def rmdir(self, path: Path, *, timeout: float = 2.0) -> None:
        """Remove one cgroup directory, retrying EBUSY while its last processes exit.

        A missing directory is not an error (removal is idempotent).  The kernel's
        control files vanish with the directory.
        """
        deadline = time.monotonic() + timeout
        delay = 0.001
        while True:
            try:
                path.rmdir()
                log.debug("cgroup rmdir %s", path)
                return
            except FileNotFoundError:
                return
            except OSError as exc:
                if exc.errno == errno.EBUSY and time.monotonic() < deadline:
                    time.sleep(delay)
                    delay = min(delay * 2, 0.1)
                    continue
                raise CgroupFileError("remove cgroup", path, exc.errno or errno.EIO) from exc

    def set_device_program(self, cgroup: Path, code: bytes) -> None:
        """(v2) Make the assembled device program ``code`` the one attached to ``cgroup``
        (the kernel frees it with the cgroup); raises KernelError (BpfLoadError with the
        verifier's words)."""
        from sbx.linux import bpf

        log.debug("cgroup device program on %s (%d instructions)", cgroup, len(code) // 8)
        bpf.replace_device_program(str(cgroup), code)

    def read_pids(self, procs: Path) -> list[int]:
        """The pids listed in a ``cgroup.procs`` file (empty when the cgroup is gone)."""
        text = self.read_optional(procs)
        if not text:
            return []
        return [int(tok) for tok in text.split()]


def cgroup_relpath(name: str) -> PurePosixPath:
    """Check a cgroup name such as ``sbx/<id>`` and return it as a relative path.

    Names are relative to the root of each hierarchy; ``..``, ``.``, empty components,
    absolute paths and NUL bytes are refused so a name can never point outside it.
    """
    rel = PurePosixPath(name)
    if (not name or name.startswith("/") or "\0" in name or "\n" in name
            or any(part in ("", ".", "..") for part in name.split("/"))):
        raise InvalidArgument(f"invalid cgroup name {name!r}",
                              hint="use a relative path such as 'sbx/<container-id>'")
    return rel


def remove_created(files: CgroupFiles, created: list[Path]) -> None:
    """Undo a failed ``create``: remove the directories it made, deepest first."""
    for path in reversed(created):
        try:
            files.rmdir(path, timeout=0.5)
        except CgroupError as exc:
            log.debug("cleanup after failed create: %s", exc)

