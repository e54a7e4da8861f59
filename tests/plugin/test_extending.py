"""Third-party services through the published hooks, the report header, and two test
runs at once on one store."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_a_conftest_adds_a_catalog_service(pytester, store):
    pytester.makeconftest("""
        from pytest_sandbox.catalog import Service
        from pytest_sandbox import wait

        ready = []

        def pytest_sandbox_services(config):
            return [Service("echo", "bb", 7000, wait.Port((7000,)),
                            command=("nc", "-ll", "-p", "7000", "-e", "cat"),
                            url="echo://{host}:{port}")]

        def pytest_sandbox_container_ready(container):
            ready.append(container.name)
    """)
    pytester.makepyfile("""
        import socket
        import pytest

        @pytest.mark.container("echo")
        def test_echo(sandbox, request):
            e = sandbox["echo"]
            assert e.url == f"echo://127.0.0.1:{e.port(7000)}"
            with socket.create_connection((e.host, e.port(7000))) as s:
                s.sendall(b"hi\\n")
                assert s.recv(8) == b"hi\\n"
            import conftest
            assert conftest.ready and conftest.ready[-1] == e.name
    """)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_header_names_engine_store_and_cgroups(pytester, store):
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["sandbox: sbx *"])
    header = "\n".join(line for line in result.stdout.lines if line.startswith("sandbox:"))
    assert str(store.root) in header and "cgroup" in header


def test_two_runs_at_once_never_collide(pytester, store):
    pytester.makepyfile(test_one="""
        import pytest

        @pytest.mark.container("bb", name="svc", command=["sleep", "30"])
        @pytest.mark.parametrize("n", range(4))
        def test_fresh(sandbox, n):
            c = sandbox["svc"]
            assert c.exec("test ! -e /tmp/seen && touch /tmp/seen").exit_code == 0
    """)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_one.py"]
    runs = [subprocess.Popen(cmd, cwd=pytester.path, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for _ in range(2)]
    outs = [r.communicate(timeout=120)[0] for r in runs]
    for r, out in zip(runs, outs, strict=True):
        assert r.returncode == 0, out
        assert "4 passed" in out
