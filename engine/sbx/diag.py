"""Diagnostic logging that costs nothing until something is worth logging: ``import
logging`` alone is ~3 ms, and the cgroup code's debug lines run in every container's
monitor on the start path.

While nothing has imported ``logging``, nobody can have configured it either, so the
default WARNING level applies: ``debug`` and ``info`` are dropped without importing it;
``warning`` and above import it and log as usual."""

from __future__ import annotations

import sys
from typing import Any

_QUIET = ("debug", "info")


def _drop(*_args: Any, **_kwargs: Any) -> None:
    return None


class LazyLogger:
    """``logging.getLogger(name)``, looked up when a record could be emitted."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        if attr in _QUIET and "logging" not in sys.modules:
            return _drop
        import logging

        return getattr(logging.getLogger(self._name), attr)


def get_logger(name: str) -> Any:
    return LazyLogger(name)
