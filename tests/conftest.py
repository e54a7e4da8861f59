"""Shared fixtures.  Integration tests (marker ``integration``) need namespaces, overlayfs
and cgroups: as root, or as an ordinary user in rootless mode (then ``root_only`` tests
skip with their reason and ``rootless_only`` ones run; CI runs both passes).  Where the
kernel cannot run them they skip with the reason, but in CI (``CI=true``) a missing
capability is a failure, never a skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.images import busybox_path, write_busybox_rootfs_tar
from tests.needs import unavailable

os.environ.setdefault("SBX_OFFLINE", "1")


def _missing_capability() -> str | None:
    if os.geteuid() != 0 and not _userns_works():
        return ("as an ordinary user (rootless mode) integration tests need unprivileged user "
                "namespaces, which are disabled here")
    if not Path("/proc/filesystems").read_text().count("overlay"):
        return "the kernel has no overlayfs (modprobe overlay)"
    if busybox_path() is None:
        return "busybox-static is not installed (apt-get install busybox-static)"
    return None


_USERNS: list[bool] = []


def _userns_works() -> bool:
    if not _USERNS:
        import subprocess

        r = subprocess.run(["unshare", "--user", "--map-root-user", "true"], capture_output=True)
        _USERNS.append(r.returncode == 0)
    return _USERNS[0]


ROOTLESS = os.geteuid() != 0


def _cgroup_v2() -> bool:
    from sbx.cgroups import CgroupMode, detect_mode
    from sbx.errors import CgroupError

    try:
        return detect_mode() is CgroupMode.V2
    except CgroupError:
        return False


CGROUP_V2 = _cgroup_v2()


def pytest_report_header(config: pytest.Config) -> str:
    other = "root" if ROOTLESS else "rootless"
    return (f"sbx mode: {'rootless' if ROOTLESS else 'root'}; the {other}-mode tests "
            f"({other}_only markers) are deselected here and run in the {other} pass "
            "(.ci/run runs both; scripts/ci-rootless.sh is the rootless one); cgroup "
            f"{'v2: cgroup_v1' if CGROUP_V2 else 'v1: cgroup_v2'} tests deselected "
            "(scripts/vm-test.sh runs the v2 ones)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of the other mode are deselected, not skipped: they are not missing here,
    they belong to the other CI pass (root_only: as root; rootless_only: as a user)."""
    if os.environ.get("SBX_TESTS_COLLECT_ALL") == "1":  # tests/test_collection.py
        return
    other = "root_only" if ROOTLESS else "rootless_only"
    # cgroup_v2 tests run on a pure v2 host (the VM pass, scripts/vm-test.sh), cgroup_v1
    # ones on a v1 or hybrid host
    cgroup_other = "cgroup_v1" if CGROUP_V2 else "cgroup_v2"
    keep = [item for item in items if item.get_closest_marker(other) is None
            and item.get_closest_marker(cgroup_other) is None]
    if len(keep) != len(items):
        kept = set(map(id, keep))
        config.hook.pytest_deselected(items=[i for i in items if id(i) not in kept])
        items[:] = keep


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("integration") is None:
        return
    reason = _missing_capability()
    if reason is not None:
        unavailable(reason)


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root filesystem tar with a static busybox and its applet links."""
    path = tmp_path_factory.mktemp("images") / "busybox-rootfs.tar"
    write_busybox_rootfs_tar(path)
    return path


@pytest.fixture(scope="module")
def sbx_module_env(busybox_tar: Path):  # type: ignore[no-untyped-def]
    """A private store with ``bb`` imported, shared by one test module."""
    from tests.sbxenv import destroy_env, make_env

    env = make_env(busybox_tar)
    yield env
    leaks = destroy_env(env)
    assert not leaks, f"left behind: {leaks}"


@pytest.fixture
def sbx(sbx_module_env):  # type: ignore[no-untyped-def]
    """The module's store; containers a test leaves are removed after it."""
    yield sbx_module_env
    sbx_module_env.remove_all()
