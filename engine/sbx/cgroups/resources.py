"""Resource limits for one container, independent of the cgroup version that applies them.

The values follow ``docker run`` (``--memory``, ``--memory-swap``, ``--cpus``,
``--cpu-shares``, ``--pids-limit``) and the OCI runtime spec's ``linux.resources``; the
version-specific managers (``v1.py``, ``v2.py``) turn them into file writes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sbx.cgroups.devices import DEFAULT_RULES, DeviceRule
from sbx.errors import InvalidArgument

#: The CFS period every quota is expressed in (the kernel default, and Docker's).
CPU_PERIOD_US = 100_000
#: The smallest quota the kernel accepts (1 ms).
CPU_MIN_QUOTA_US = 1_000
#: cgroup v1 ``cpu.shares`` range, and cgroup v2 ``cpu.weight`` range.
SHARES_MIN, SHARES_MAX = 2, 262_144
WEIGHT_MIN, WEIGHT_MAX = 1, 10_000
#: The kernel refuses memory limits below a few pages; Docker's floor is 6 MiB.
MEMORY_MIN = 6 * 1024 * 1024


@dataclass(frozen=True)
class Resources:
    """Limits for one cgroup; ``None`` everywhere means "no limit, just account"."""

    memory: int | None = None
    """Hard memory limit in bytes."""
    memory_swap: int | None = None
    """Memory plus swap in bytes; ``None`` means the same as ``memory`` (no swap), -1 unlimited."""
    cpus: float | None = None
    """CPUs worth of time per period, e.g. 0.5 -> a 50000 us quota per 100000 us period."""
    cpu_shares: int | None = None
    """Relative weight in v1 units (default 1024); converted to ``cpu.weight`` on v2."""
    pids: int | None = None
    """Maximum number of tasks (``pids.max``); ``None`` or -1 is unlimited."""
    devices: tuple[DeviceRule, ...] | None = DEFAULT_RULES
    """The device allowlist (Docker's by default, see ``devices.py``); ``None``: no
    policy, every device (``--privileged``).  Not a limit: :meth:`is_empty` ignores it."""

    def __post_init__(self) -> None:
        if self.memory is not None and self.memory < MEMORY_MIN:
            raise InvalidArgument(
                f"memory limit {self.memory} bytes is too small",
                hint=f"use at least {MEMORY_MIN // (1024 * 1024)} MiB, e.g. --memory 32m")
        if self.memory_swap is not None:
            if self.memory is None:
                raise InvalidArgument(
                    "a memory+swap limit needs a memory limit",
                    hint="set --memory as well as --memory-swap")
            if self.memory_swap != -1 and self.memory_swap < self.memory:
                raise InvalidArgument(
                    f"memory+swap limit {self.memory_swap} is below the memory limit {self.memory}",
                    hint="--memory-swap counts memory plus swap: make it >= --memory, or -1")
        if self.cpus is not None and (
                not math.isfinite(self.cpus) or self.cpus <= 0
                or self.cpus * CPU_PERIOD_US < CPU_MIN_QUOTA_US):
            raise InvalidArgument(
                f"cpus={self.cpus} is not a usable CPU limit",
                hint="give a positive number of CPUs of at least 0.01, e.g. --cpus 0.5")
        if self.cpu_shares is not None and not SHARES_MIN <= self.cpu_shares <= SHARES_MAX:
            raise InvalidArgument(
                f"cpu shares {self.cpu_shares} out of range",
                hint=f"use {SHARES_MIN}..{SHARES_MAX} (the default is 1024)")
        if self.pids is not None and self.pids != -1 and self.pids < 1:
            raise InvalidArgument(
                f"pids limit {self.pids} is invalid",
                hint="use a positive number of tasks, or -1 for no limit")

    def is_empty(self) -> bool:
        """True when no limit at all is requested (the cgroup is only for accounting and kill)."""
        return (self.memory is None and self.memory_swap is None and self.cpus is None
                and self.cpu_shares is None and not self.has_pids_limit())

    def has_pids_limit(self) -> bool:
        return self.pids is not None and self.pids != -1

    def cpu_quota_us(self) -> int | None:
        """The CFS quota per :data:`CPU_PERIOD_US`, or None without a CPU limit."""
        if self.cpus is None:
            return None
        return max(CPU_MIN_QUOTA_US, round(self.cpus * CPU_PERIOD_US))

    def swap_only(self) -> int | None:
        """Swap allowed on top of memory in bytes (v2 ``memory.swap.max``); -1 unlimited."""
        if self.memory is None:
            return None
        if self.memory_swap is None:
            return 0
        if self.memory_swap == -1:
            return -1
        return self.memory_swap - self.memory

    def cpu_weight(self) -> int | None:
        """``cpu_shares`` as a cgroup v2 ``cpu.weight``, or None."""
        if self.cpu_shares is None:
            return None
        return shares_to_weight(self.cpu_shares)


def shares_to_weight(shares: int) -> int:
    """Convert v1 ``cpu.shares`` [2..262144] to v2 ``cpu.weight`` [1..10000].

    Uses the conversion current runc/crun apply: a quadratic fit in log2 space that maps
    the minimum to the minimum (2 -> 1), the default to the default (1024 -> 100) and the
    maximum to the maximum (262144 -> 10000).  The older linear formula
    ``1 + (shares - 2) * 9999 // 262142`` mapped the default 1024 to 39, starving
    containers that set the default explicitly.
    """
    if shares <= SHARES_MIN:
        return WEIGHT_MIN
    if shares >= SHARES_MAX:
        return WEIGHT_MAX
    lg = math.log2(shares)
    exponent = (lg * lg + 125 * lg) / 612.0 - 7.0 / 34.0
    return min(WEIGHT_MAX, max(WEIGHT_MIN, math.ceil(10 ** exponent)))
