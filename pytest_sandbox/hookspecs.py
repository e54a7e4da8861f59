"""Hooks that pytest-sandbox publishes (added with ``pytest_addhooks``), so that other
plugins and conftest files can extend the service catalog and see containers start."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pytest_sandbox.catalog import Service
    from pytest_sandbox.sandbox import Container


@pytest.hookspec
def pytest_sandbox_services(config: pytest.Config) -> list[Service]:
    """Return catalog services to add (or to replace built-ins of the same name).

    Called once per process, the first time a marker names a service; every
    implementation's list is used, later registrations win::

        from pytest_sandbox.catalog import Service
        from pytest_sandbox import wait

        def pytest_sandbox_services(config):
            return [Service("valkey", "valkey/valkey:8", 6379, wait.RedisPing(6379),
                            url="redis://{host}:{port}/0")]

    :param config: the pytest config.
    """


@pytest.hookspec
def pytest_sandbox_container_ready(container: Container) -> None:
    """Called when a container has started and passed its readiness check.

    :param container: the ``Container`` handle (``.name``, ``.port(n)``, ``.exec``...).
    """
