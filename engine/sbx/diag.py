"""Diagnostic logging that costs nothing until something is logged: ``import logging``
alone is ~3 ms, paid by every ``sbx run`` for warnings that almost never fire."""

from __future__ import annotations

from typing import Any


class LazyLogger:
    """``logging.getLogger(name)``, looked up on the first call of a method."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._logger: Any = None

    def __getattr__(self, attr: str) -> Any:
        if self._logger is None:
            import logging

            self._logger = logging.getLogger(self._name)
        return getattr(self._logger, attr)


def get_logger(name: str) -> Any:
    return LazyLogger(name)
