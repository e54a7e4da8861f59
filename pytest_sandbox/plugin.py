"""pytest-sandbox's hooks and fixtures (the ``pytest11`` entry point).  Only hooks and thin
fixtures live here; the engine and everything heavy is imported on first use."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from pytest_sandbox.markers import MARKER, MARKER_HELP

if TYPE_CHECKING:
    from pytest_sandbox.factory import SandboxFactory
    from pytest_sandbox.sandbox import Sandbox

factory_key = pytest.StashKey["SandboxFactory"]()
sandbox_key = pytest.StashKey["Sandbox"]()
failed_key = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    from pytest_sandbox.options import add_options

    add_options(parser)


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    from pytest_sandbox import hookspecs

    pluginmanager.add_hookspecs(hookspecs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    from pytest_sandbox.factory import SandboxFactory

    def say(text: str) -> None:
        tr = config.pluginmanager.get_plugin("terminalreporter")
        if tr is not None:
            tr.write_line(text)
        else:
            sys.stderr.write(text + "\n")

    factory = SandboxFactory.from_config(config, say)
    config.stash[factory_key] = factory
    if factory.is_controller and not getattr(config.option, "testrunuid", None):
        config.option.testrunuid = factory.run_id  # xdist hands it to every worker


def pytest_cmdline_main(config: pytest.Config) -> int | None:
    if not config.getoption("sandbox_prune", False):
        return None
    from sbx.engine import Engine
    from sbx.errors import SbxError

    from pytest_sandbox import reaper
    from pytest_sandbox.options import Settings

    try:
        summary = reaper.prune(Engine.from_env(Settings.from_config(config).root))
    except SbxError as exc:
        sys.stderr.write(f"sandbox prune: {exc.one_line()}\n")
        return 1
    for line in summary.lines():
        sys.stdout.write(line + "\n")
    return 0


def pytest_sessionstart(session: pytest.Session) -> None:
    factory = session.config.stash.get(factory_key, None)
    if factory is None or getattr(session.config, "workerinput", None) is not None:
        return
    try:
        reaped = factory.reap_orphans()
    except Exception as exc:  # noqa: BLE001 - no store yet, no permission: nothing to reap
        factory.say(f"sandbox: could not look for containers of dead runs: {exc}")
        return
    if reaped:
        factory.say(f"sandbox: removed {len(reaped)} container(s) left by dead test runs")


def pytest_report_header(config: pytest.Config) -> list[str]:
    from pytest_sandbox.reporting import header_lines

    factory = config.stash.get(factory_key, None)
    if factory is None:
        return []
    try:
        return header_lines(factory)
    except Exception as exc:  # noqa: BLE001 - a header never fails the run
        return [f"sandbox: engine unavailable: {exc}"]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    rep: Any = yield
    if rep.failed:
        item.stash[failed_key] = True
        box = item.stash.get(sandbox_key, None)
        if box is not None and rep.when in ("setup", "call"):
            from pytest_sandbox.reporting import log_sections

            for title, text in log_sections(box):
                rep.sections.append((title, text))
    return rep


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    factory = config.stash.get(factory_key, None)
    if factory is None:
        return
    from pytest_sandbox.reporting import kept_lines

    for line in kept_lines(factory):
        terminalreporter.write_line(line)


def pytest_sessionfinish(session: pytest.Session) -> None:
    factory = session.config.stash.get(factory_key, None)
    if factory is not None:
        factory.close()


def pytest_unconfigure(config: pytest.Config) -> None:
    factory = config.stash.get(factory_key, None)
    if factory is not None:
        factory.close()  # idempotent; covers runs interrupted before sessionfinish


@pytest.fixture(scope="session")
def sandbox_factory(pytestconfig: pytest.Config) -> SandboxFactory:
    """The session's container factory (engine, catalog, images; ``.start(request)``)."""
    return pytestconfig.stash[factory_key]


@pytest.fixture(scope="session")
def sandbox_engine(sandbox_factory: SandboxFactory) -> Any:
    """The ``sbx.engine.Engine`` the sandbox uses (store from --sandbox-root or $SBX_ROOT)."""
    return sandbox_factory.engine


@pytest.fixture
def sandbox(request: pytest.FixtureRequest, sandbox_factory: SandboxFactory) -> Iterator[Sandbox]:
    """The test's containers: ``sandbox["redis"]`` for each ``container`` marker (started
    fresh for the test unless the marker has a wider scope), ``sandbox.run(image, ...)``,
    ``sandbox.build(path, ...)``.  Removed after the test (kept on failure with
    --sandbox-keep-failed); their logs appear in a failing test's report."""
    from sbx.errors import SbxError

    item = request.node
    problem = ""
    try:
        box = sandbox_factory.sandbox_for(item)
    except SbxError as exc:
        problem = f"sandbox: {exc.message}" + (f"\n  hint: {exc.hint}" if exc.hint else "")
    if problem:
        pytest.fail(problem, pytrace=False)
    item.stash[sandbox_key] = box
    try:
        yield box
    finally:
        sandbox_factory.finish_test(box, item.stash.get(failed_key, False))


@pytest.fixture(autouse=True)
def _sandbox_markers(request: pytest.FixtureRequest) -> None:
    """Start the containers of ``container`` markers even when the test does not ask for
    the ``sandbox`` fixture."""
    if request.node.get_closest_marker(MARKER) is not None:
        request.getfixturevalue("sandbox")
