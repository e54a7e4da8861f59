"""Resources validation and the unit conversions shared by both cgroup versions."""

from __future__ import annotations

import pytest
from sbx.cgroups import Resources, shares_to_weight
from sbx.errors import InvalidArgument

MiB = 1024 * 1024


def test_empty() -> None:
    assert Resources().is_empty()
    assert Resources(pids=-1).is_empty()
    assert not Resources(pids=10).is_empty()
    assert not Resources(cpus=1).is_empty()


@pytest.mark.parametrize(("cpus", "quota"), [(0.5, 50_000), (0.2, 20_000), (2, 200_000),
                                             (1.5, 150_000), (0.01, 1_000)])
def test_cpu_quota(cpus: float, quota: int) -> None:
    assert Resources(cpus=cpus).cpu_quota_us() == quota


@pytest.mark.parametrize(("swap", "only"), [(None, 0), (-1, -1), (64 * MiB, 32 * MiB),
                                            (32 * MiB, 0)])
def test_swap_only(swap: int | None, only: int) -> None:
    assert Resources(memory=32 * MiB, memory_swap=swap).swap_only() == only


@pytest.mark.parametrize(("shares", "weight"), [(2, 1), (1, 1), (1024, 100), (512, 59),
                                                (2048, 174), (262144, 10000),
                                                (10**6, 10000)])
def test_shares_to_weight(shares: int, weight: int) -> None:
    assert shares_to_weight(shares) == weight


def test_weight_is_monotonic() -> None:
    weights = [shares_to_weight(s) for s in range(2, 262145, 97)]
    assert weights == sorted(weights)


@pytest.mark.parametrize("kwargs", [
    {"memory": 1024},                                  # below the kernel's floor
    {"memory_swap": 64 * MiB},                         # swap without memory
    {"memory": 64 * MiB, "memory_swap": 32 * MiB},     # memsw below memory
    {"cpus": 0},
    {"cpus": -1},
    {"cpus": float("nan")},
    {"cpus": 0.001},
    {"cpu_shares": 1},
    {"cpu_shares": 300_000},
    {"pids": 0},
    {"pids": -5},
])
def test_invalid(kwargs: dict) -> None:
    with pytest.raises(InvalidArgument) as info:
        Resources(**kwargs)
    assert info.value.hint


def test_frozen() -> None:
    r = Resources(memory=64 * MiB)
    with pytest.raises(AttributeError):
        r.memory = 1  # type: ignore[misc]
