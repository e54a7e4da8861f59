"""Clean-up that survives xdist, failures, Ctrl+C and SIGKILL; keep-failed; prune."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.integration

ECHO = 'command=["nc", "-ll", "-p", "7000", "-e", "cat"], ports=[7000]'


def _containers(store) -> list[str]:  # type: ignore[no-untyped-def]
    return store.ok("ps", "-a", "-q").split()


def test_xdist_workers_share_one_session_container(pytester, store):
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.container("bb", name="shared", {ECHO}, scope="session")
        @pytest.mark.parametrize("n", range(8))
        def test_shared(sandbox, n, worker_id, tmp_path_factory):
            out = tmp_path_factory.getbasetemp().parent / "ids"
            with open(out, "a") as f:
                f.write(worker_id + " " + sandbox["shared"].id + "\\n")
            assert sandbox["shared"].exec("true").exit_code == 0
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2")
    result.assert_outcomes(passed=8)
    ids_files = list(pytester.path.rglob("ids"))
    assert ids_files, "the tests wrote no ids"
    pairs = [line.split() for f in ids_files for line in f.read_text().splitlines()]
    assert len(pairs) == 8
    assert len({w for w, _ in pairs}) == 2, "both workers ran tests"
    assert len({c for _, c in pairs}) == 1, "one container for all workers"
    assert _containers(store) == []


def test_failure_and_error_leave_nothing(pytester, store):
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.container("bb", {ECHO})
        def test_fails(sandbox):
            assert 0

        @pytest.mark.container("bb", {ECHO}, scope="module")
        def test_raises(sandbox):
            raise RuntimeError("x")
    """)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(failed=2)
    assert _containers(store) == []


def _start_run(pytester, *args: str) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    return subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-s", *args],
                            cwd=pytester.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def _wait_for(cond, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


SLOW = f"""
import pytest, time

@pytest.mark.container("bb", {ECHO})
def test_slow(sandbox):
    print("READY", flush=True)
    time.sleep(60)
"""


def test_ctrl_c_removes_containers(pytester, store):
    pytester.makepyfile(SLOW)
    proc = _start_run(pytester)
    try:
        _wait_for(lambda: len(_containers(store)) == 1)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "KeyboardInterrupt" in out
    assert _containers(store) == []


def test_sigkilled_run_is_reaped_by_the_next(pytester, store):
    pytester.makepyfile(SLOW)
    proc = _start_run(pytester)
    try:
        # running, not only created: a kill between create and start leaves a Created one
        _wait_for(lambda: "Up" in store.ok("ps"))
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    left = _containers(store)
    assert len(left) == 1
    assert "Up" in store.ok("ps", "-a")            # still running: nobody cleaned up
    pytester.makepyfile(test_next="def test_nothing(): pass")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "test_next.py")
    result.stdout.fnmatch_lines(["sandbox: removed 1 container(s) left by dead test runs"])
    assert _containers(store) == []


def test_keep_failed_then_prune(pytester, store):
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.container("bb", name="kept", {ECHO})
        def test_fails(sandbox):
            assert 0

        @pytest.mark.container("bb", {ECHO})
        def test_passes(sandbox):
            pass
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--sandbox-keep-failed")
    result.assert_outcomes(failed=1, passed=1)
    result.stdout.fnmatch_lines([
        "sandbox: kept 1 container(s) of failing tests*",
        "*test_fails: kept = sbx-kept-*",
        f"    sbx --root {store.root} exec -it sbx-kept-* sh",
        f"    sbx --root {store.root} logs sbx-kept-*"])
    kept = _containers(store)
    assert len(kept) == 1
    # a later run does not reap a kept container...
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "-k", "passes").assert_outcomes(passed=1)
    assert _containers(store) == kept
    # ...but --sandbox-prune does, says what it reclaimed, and runs no tests
    store.ok("run", "bb", "true")                  # a stopped container: pruned too
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--sandbox-prune")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["sandbox prune: removed 2 container(s), * image(s), * build cache entr*",
                                 "Total reclaimed space: *"])
    assert "passed" not in result.stdout.str()
    assert _containers(store) == []
