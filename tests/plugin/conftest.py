"""Fixtures of the plugin tests: pytester, and a private store with ``bb`` for the
pytest runs they start (``SBX_ROOT`` in the environment those runs inherit)."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


@pytest.fixture
def store(sbx_module_env, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """The module's private store (``bb`` imported) for the pytest runs a test starts;
    after the test, nothing may be left in it."""
    monkeypatch.setenv("SBX_ROOT", str(sbx_module_env.root))
    monkeypatch.setenv("SBX_OFFLINE", "1")
    monkeypatch.delenv("SBX_RUNROOT", raising=False)
    yield sbx_module_env
    left = sbx_module_env.ok("ps", "-a", "-q").split()
    sbx_module_env.remove_all()
    assert not left, f"containers left behind: {left}"
