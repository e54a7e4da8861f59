"""What a build is asked to do (``BuildOptions``), what it produced (``BuildResult``) and
where its progress goes (``Progress``: Docker's classic ``Step 1/2 : ...`` lines)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

PROXY_ARGS = frozenset({"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
                        "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"})
NETWORKS = ("default", "none", "host")
ENTITLEMENTS = ("network.host",)  # --allow (BuildKit's security.insecure is not supported)


@dataclass(frozen=True)
class BuildOptions:
    """``sbx build`` flags.  ``dockerfile`` is a path (None: ``Dockerfile`` in the
    context); a build arg with value None takes its value from the environment."""

    context: Path
    dockerfile: Path | None = None
    tags: tuple[str, ...] = ()
    build_args: tuple[tuple[str, str | None], ...] = ()
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    network: str = "default"   # RUN steps: default (own namespace + NAT), none, host
    labels: tuple[tuple[str, str], ...] = ()
    quiet: bool = False
    allow: tuple[str, ...] = ()  # entitlements (--allow): network.host

    @property
    def host_network_allowed(self) -> bool:
        return self.network == "host" or "network.host" in self.allow

    def resolved_args(self, environ: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in self.build_args:
            if value is not None:
                out[key] = value
            elif key in environ:
                out[key] = environ[key]
        return out


@dataclass(frozen=True)
class BuildResult:
    """The built image (``sha256:...``), the tags given to it, and how many steps ran."""

    image_id: str
    tags: tuple[str, ...] = ()
    steps: int = 0
    cached: int = 0
    warnings: tuple[str, ...] = field(default_factory=tuple)

    @property
    def short_id(self) -> str:
        return self.image_id.split(":", 1)[-1][:12]


class Progress:
    """Build output: text lines and the raw output of RUN steps, to ``write`` (bytes).

    ``quiet`` keeps everything in ``held`` instead (``sbx build -q`` prints it only if
    the build fails).
    """

    def __init__(self, write: Callable[[bytes], None] | None, *, quiet: bool = False) -> None:
        self._write = write
        self.quiet = quiet
        self.held: list[bytes] = []

    def raw(self, data: bytes) -> None:
        if self.quiet or self._write is None:
            if self.quiet:
                self.held.append(data)
            return
        self._write(data)

    def line(self, text: str) -> None:
        self.raw(text.encode("utf-8", "replace") + b"\n")
