"""``Layout.make_private``: the store's own directories get Docker's modes, once; shared
places are never tightened."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from sbx.layout import STORE_DIR_MODES, Layout


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_a_new_store_gets_its_modes(tmp_path: Path) -> None:
    lay = Layout(tmp_path / "store", tmp_path / "store" / "run")
    lay.make_private()
    assert _mode(lay.root) == 0o710 and _mode(lay.runroot) == 0o710
    for name, mode in STORE_DIR_MODES.items():
        assert _mode(lay.root / name) == mode, name


def test_an_old_store_is_fixed_once_and_lock_files_closed(tmp_path: Path) -> None:
    lay = Layout(tmp_path / "s", tmp_path / "s" / "run")
    for d in (lay.root, lay.locks, lay.root / "images"):
        d.mkdir(parents=True, exist_ok=True)
        os.chmod(d, 0o755)
    (lay.locks / "store.lock").touch(mode=0o644)
    os.chmod(lay.locks / "store.lock", 0o644)
    lay.make_private()
    assert _mode(lay.root) == 0o710 and _mode(lay.locks) == 0o700
    assert _mode(lay.root / "images") == 0o700 and _mode(lay.locks / "store.lock") == 0o600
    os.chmod(lay.root / "images", 0o755)  # the root is right: nothing more is looked at
    lay.make_private()
    assert _mode(lay.root / "images") == 0o755


def test_rootless_is_0700_and_shared_places_are_left_alone(tmp_path: Path) -> None:
    lay = Layout(tmp_path / "r", tmp_path / "r" / "run")
    lay.make_private(rootless=True)
    assert _mode(lay.root) == 0o700 and _mode(lay.root / "volumes") == 0o700
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    Layout(shared, shared / "run").make_private()
    assert _mode(shared) == 0o1777
