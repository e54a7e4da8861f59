"""Fixtures for registry unit tests: a config in tmp_path and clients on a FakeRegistry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from sbx.registry.client import RegistryClient
from sbx.registry.config import RegistryConfig

from .fake_registry import FakeRegistry


@pytest.fixture
def config(tmp_path: Path) -> RegistryConfig:
    return RegistryConfig(auth_file=tmp_path / "sbx" / "auth.json",
                          docker_config=tmp_path / "docker" / "config.json",
                          retries=3, backoff=0.01)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def make_client(config: RegistryConfig, sleeps: list[float]
                ) -> Callable[..., RegistryClient]:
    def make(fake: FakeRegistry, domain: str | None = None, *hosts: str,
             **overrides: object) -> RegistryClient:
        cfg = replace(config, **overrides) if overrides else config  # type: ignore[arg-type]
        return RegistryClient(domain or fake.host, config=cfg, session=fake.session(*hosts),
                              sleep=sleeps.append)
    return make
