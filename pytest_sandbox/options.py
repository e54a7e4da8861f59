"""Command-line options and ini settings of the ``sandbox`` group, and ``Settings``, the
validated view of them that the rest of the plugin reads."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

PULL_POLICIES = ("never", "missing", "always")


def add_options(parser: pytest.Parser) -> None:
    group = parser.getgroup("sandbox", "service containers (pytest-sandbox)")
    # Help text style (as xdist): lower case, no trailing period, say the default.
    group.addoption("--sandbox-root", dest="sandbox_root", default=None, metavar="DIR",
                    help="sbx store root (default: the engine's: $SBX_ROOT, else /var/lib/sbx "
                         "for root or ~/.local/share/sbx for a user)")
    group.addoption("--sandbox-pull", dest="sandbox_pull", default=None, choices=PULL_POLICIES,
                    help="when to pull images from a registry: never, missing (default) or always")
    group.addoption("--sandbox-timeout", dest="sandbox_timeout", default=None, type=float,
                    metavar="SECONDS", help="readiness timeout per container (default: 60)")
    group.addoption("--sandbox-keep-failed", dest="sandbox_keep_failed", action="store_true",
                    help="keep the containers of failing tests and print how to reach them")
    group.addoption("--sandbox-prune", dest="sandbox_prune", action="store_true",
                    help="remove stopped and orphaned containers, dangling images and build "
                         "cache, print what was reclaimed, and exit")
    parser.addini("sandbox_root", "sbx store root (default: the engine's)", default="")
    parser.addini("sandbox_pull", "image pull policy: never, missing or always", default="missing")
    parser.addini("sandbox_timeout", "readiness timeout per container, in seconds", default="60")
    parser.addini("sandbox_userns", "user namespace of every service container: host (default) "
                  "or auto / auto:size=N (root mode: container root is a high host id of its "
                  "own range, see docs/security.md)", default="")


@dataclass(frozen=True)
class Settings:
    root: str | None
    pull: str
    timeout: float
    keep_failed: bool
    prune: bool
    userns: str = ""        # sandbox_userns, normalised ("" host, "auto", "auto:size=N")

    @classmethod
    def from_config(cls, config: pytest.Config) -> Settings:
        opt = config.option
        root = getattr(opt, "sandbox_root", None) or config.getini("sandbox_root") or None
        pull = getattr(opt, "sandbox_pull", None) or config.getini("sandbox_pull") or "missing"
        if pull not in PULL_POLICIES:
            raise pytest.UsageError(f"sandbox_pull = {pull!r}: use one of {', '.join(PULL_POLICIES)}")
        timeout = getattr(opt, "sandbox_timeout", None)
        try:
            timeout = float(timeout if timeout is not None else config.getini("sandbox_timeout"))
        except ValueError as exc:
            raise pytest.UsageError(f"sandbox timeout settings: {exc}") from None
        if timeout <= 0:
            raise pytest.UsageError(f"--sandbox-timeout must be positive, not {timeout:g}")
        return cls(root=str(root) if root else None, pull=pull, timeout=timeout,
                   keep_failed=bool(getattr(opt, "sandbox_keep_failed", False)),
                   prune=bool(getattr(opt, "sandbox_prune", False)),
                   userns=_userns(str(config.getini("sandbox_userns") or "")))


def _userns(value: str) -> str:
    from sbx.errors import InvalidArgument
    from sbx.runtime.userns_auto import parse

    try:
        return parse(value).shown()
    except InvalidArgument as exc:
        raise pytest.UsageError(f"sandbox_userns = {value!r}: {exc.one_line()}") from None
