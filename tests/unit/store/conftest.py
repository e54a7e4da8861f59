from __future__ import annotations

from pathlib import Path

import pytest
from sbx.layout import Layout
from sbx.store import Store


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(tmp_path / "root", tmp_path / "run")


@pytest.fixture
def store(layout: Layout) -> Store:
    return Store(layout)
