"""What the plugin shows: the header line (engine version, store, cgroup mode), the logs of
a failing test's containers as sections of its report, and, with
``--sandbox-keep-failed``, how to reach the containers that were kept."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytest_sandbox.factory import SandboxFactory
    from pytest_sandbox.sandbox import Sandbox

LOG_LINES = 100


def header_lines(factory: SandboxFactory) -> list[str]:
    import sbx

    try:
        from sbx.cgroups import cgroup_info

        cg = cgroup_info()
        cgroup = f"cgroup v{cg.get('version')} ({cg.get('mode')})"
    except Exception:  # noqa: BLE001 - the header must never break a run
        cgroup = "cgroup unknown"
    offline = os.environ.get("SBX_OFFLINE", "") not in ("", "0")
    return [f"sandbox: sbx {sbx.__version__}, store {factory.engine.layout.root}, {cgroup}, "
            f"pull {factory.settings.pull}{', offline' if offline else ''}"]


def log_sections(box: Sandbox) -> list[tuple[str, str]]:
    """One report section per container: its last lines of output."""
    out = []
    for c in box.containers():
        text = c.logs()
        lines = text.rstrip("\n").splitlines()
        if len(lines) > LOG_LINES:
            lines = [f"... ({len(lines) - LOG_LINES} earlier lines; sbx logs {c.name})",
                     *lines[-LOG_LINES:]]
        out.append((f"sandbox logs: {c.alias} ({c.name})", "\n".join(lines) or "(no output)"))
    return out


def _sbx(factory: SandboxFactory) -> str:
    from sbx.layout import DEFAULT_ROOT

    root = factory.engine.layout.root
    return "sbx" if root == DEFAULT_ROOT else f"sbx --root {root}"


def kept_lines(factory: SandboxFactory) -> list[str]:
    if not factory.kept:
        return []
    sbx = _sbx(factory)
    out = [f"sandbox: kept {len(factory.kept)} container(s) of failing tests "
           f"(remove them with {sbx} rm -f NAME, or pytest --sandbox-prune):"]
    for node_id, c in factory.kept:
        out.append(f"  {node_id}: {c.alias} = {c.name}")
        out.append(f"    {sbx} exec -it {c.name} sh")
        out.append(f"    {sbx} logs {c.name}")
    return out


def write_lines(config: Any, lines: list[str]) -> None:
    tr = config.pluginmanager.get_plugin("terminalreporter")
    for line in lines:
        if tr is not None:
            tr.write_line(line)
