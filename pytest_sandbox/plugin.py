"""pytest-sandbox's hooks (the ``pytest11`` entry point).  Heavy imports stay lazy."""

from __future__ import annotations

import pytest


def pytest_report_header(config: pytest.Config) -> list[str]:
    import sbx

    return [f"sandbox: sbx {sbx.__version__}"]
