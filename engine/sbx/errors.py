"""One exception hierarchy for everything sbx raises on purpose.

Every error carries a message that says what failed and where, and an optional hint that
says what to do next.  The CLI prints ``sbx: <message> (<hint>)`` on one line and exits
with ``exit_code`` (125 for engine errors, 126/127 when the command cannot run, like
Docker).
"""

from __future__ import annotations


class SbxError(Exception):
    """Base for every error the engine raises deliberately."""

    exit_code = 125

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = " ".join(self.message.split())
        if self.hint:
            hint = " ".join(self.hint.split("\n\n", 1)[0].split())  # no usage blocks
            text = f"{text} ({hint})"
        return text


class InvalidArgument(SbxError):
    """A flag, option value or spec field is malformed."""


class NotFound(SbxError):
    """Something named by the user does not exist."""


class ImageNotFound(NotFound):
    pass


class ContainerNotFound(NotFound):
    pass


class Conflict(SbxError):
    """The request clashes with existing state (name in use, image in use...)."""


class IllegalState(Conflict):
    """A lifecycle move that the container's current status forbids."""


class PermissionDenied(SbxError):
    pass


class StoreError(SbxError):
    """The on-disk store is unreadable, corrupt, or a write failed."""


class DigestMismatch(StoreError):
    pass


class UnsafeLayer(StoreError):
    """A layer or rootfs tar holds a member that would escape or is not allowed."""


class KernelError(SbxError):
    """A syscall failed; carries the step, errno and path."""

    def __init__(self, step: str, errno: int, path: str = "", *, hint: str | None = None) -> None:
        import os

        where = f" {path}" if path else ""
        super().__init__(f"{step}{where}: {os.strerror(errno)} (errno {errno})", hint=hint)
        self.step = step
        self.errno = errno
        self.path = path


class ContainerSetupError(SbxError):
    """The container's init process failed before exec; names the step, errno and path."""

    def __init__(self, step: str, errno: int, path: str = "", detail: str = "", *,
                 hint: str | None = None) -> None:
        import os

        what = detail or (os.strerror(errno) if errno else "failed")
        where = f" {path}" if path else ""
        super().__init__(f"container setup failed at {step}{where}: {what}", hint=hint)
        self.step = step
        self.errno = errno
        self.path = path


class CommandNotExecutable(SbxError):
    exit_code = 126


class CommandNotFound(SbxError):
    exit_code = 127


class CgroupError(SbxError):
    pass


class RegistryError(SbxError):
    pass


class NetworkError(SbxError):
    """A container's network could not be set up (the outbound NAT, say)."""


class BuildError(SbxError):
    """A Dockerfile build failed (docker build exits 1)."""

    exit_code = 1


class DockerfileError(BuildError):
    """A Dockerfile cannot be parsed: names the file and line."""

    def __init__(self, message: str, *, path: str = "Dockerfile", line: int = 0,
                 hint: str | None = None) -> None:
        prefix = f"{path}:{line}: " if line else f"{path}: "
        super().__init__(prefix + message, hint=hint)
        self.path = path
        self.line = line


class ExpansionError(BuildError):
    """A Dockerfile word cannot be expanded: bad ``${...}`` syntax, an unmatched quote,
    or a ``${VAR:?message}`` whose variable is unset."""


class NoSuchImage(ImageNotFound):
    """No local image matches a name or id; ``reference`` is what was asked for
    (familiar form for names, e.g. ``redis:latest``), so the CLI can word Docker's text."""

    def __init__(self, reference: str, message: str | None = None, *,
                 hint: str | None = None) -> None:
        super().__init__(message or f"Unable to find image '{reference}' locally", hint=hint)
        self.reference = reference
