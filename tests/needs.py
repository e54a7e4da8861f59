"""What a test needs from the machine: outside CI a missing tool or capability skips with
the reason; in CI (``CI=true``) it fails, since CI must run every real-kernel test."""

from __future__ import annotations

import os
import shutil

import pytest


def unavailable(reason: str) -> None:
    """Skip (never returns); a failure in CI."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def need(tool: str, binary: str | None = None) -> None:
    """``tool`` must be installed (``binary``: where it was found, when looked up otherwise)."""
    if (binary if binary is not None else shutil.which(tool)) is None:
        unavailable(f"{tool} is not installed (scripts/setup.sh installs it)")
