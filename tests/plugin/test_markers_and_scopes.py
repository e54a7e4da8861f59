"""The ``container`` marker with real containers: a fresh container per test, scopes,
several markers, network sharing, readiness failures, report sections."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

ECHO = 'command=["nc", "-ll", "-p", "7000", "-e", "cat"], ports=[7000]'
HTTPD = ('command="mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www", '
         'ports=[8080]')


def test_fresh_container_per_test(pytester, store):
    pytester.makepyfile(f"""
        import pytest, socket

        @pytest.mark.container("bb", name="echo", {ECHO})
        @pytest.mark.parametrize("n", range(3))
        def test_fresh(sandbox, n):
            c = sandbox["echo"]
            code, out = c.exec("cat /tmp/mark 2>/dev/null; echo x > /tmp/mark")
            assert code == 0 and out == ""          # nothing from the previous test
            with socket.create_connection((c.host, c.port(7000))) as s:
                s.sendall(b"ping\\n")
                assert s.recv(16) == b"ping\\n"
            assert c.name.startswith("sbx-echo-") and len(c.id) == 64
    """)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=3)


def test_marker_without_fixture_and_on_class_and_module(pytester, store):
    pytester.makepyfile(f"""
        import pytest

        pytestmark = pytest.mark.container("bb", name="mod", {HTTPD}, scope="module")
        ids = {{}}

        def test_no_fixture_still_starts(request):
            assert request.getfixturevalue("sandbox")["mod"].url.startswith("http://127.0.0.1:")

        @pytest.mark.container("bb", name="cls", {ECHO}, scope="class")
        class TestScopes:
            def test_a(self, sandbox):
                ids["cls_a"], ids["mod_a"] = sandbox["cls"].id, sandbox["mod"].id

            def test_b(self, sandbox):
                assert sandbox["cls"].id == ids["cls_a"]
                assert sandbox["mod"].id == ids["mod_a"]

        @pytest.mark.container("bb", name="cls", {ECHO}, scope="class")
        class TestOther:
            def test_c(self, sandbox):
                assert sandbox["cls"].id != ids["cls_a"]       # a new class, a new container
                assert sandbox["mod"].id == ids["mod_a"]

        @pytest.mark.container("bb", name="s", {ECHO}, scope="session")
        @pytest.mark.container("bb", name="f", {ECHO})
        def test_session_and_function(sandbox):
            ids["s"] = sandbox["s"].id
            assert sandbox["f"].scope == "function" and sandbox["s"].scope == "session"

        @pytest.mark.container("bb", name="s", {ECHO}, scope="session")
        def test_session_again(sandbox):
            assert sandbox["s"].id == ids["s"]
    """)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=6)


def test_shared_network_and_run_and_logs(pytester, store):
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.container("bb", name="server", {ECHO})
        @pytest.mark.container("bb", name="client", command=["sleep", "1000"],
                               network="container:server", wait="none")
        def test_pod(sandbox):
            code, out = sandbox["client"].exec("echo hello | nc 127.0.0.1 7000")
            assert (code, out) == (0, "hello\\n")

        def test_run_exec_logs_stop(sandbox):
            c = sandbox.run("bb", command="echo started; echo oops >&2; exec sleep 1000",
                            wait="log:oops", env={{"A": "1"}})
            assert c.logs() == "started\\noops\\n"
            assert c.exec(["sh", "-c", "echo $A"]) == (0, "1\\n")
            c.stop(timeout=0.1)
            assert not c.running()
    """)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


def test_readiness_failure_reports_logs_at_once(pytester, store):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.container("bb", command="echo cannot bind: no config >&2; exit 3",
                               ports=[7000], timeout=30)
        def test_dies(sandbox):
            pass
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*container bb (sbx-bb-*) exited before it was ready*",
                                 "*cannot bind: no config*"])
    assert result.duration < 20


def test_failing_test_gets_container_logs_in_report(pytester, store):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.container("bb", name="noisy",
                               command="echo line-from-the-service; exec sleep 1000", wait="log:line")
        def test_fails(sandbox):
            assert False, "boom"
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*sandbox logs: noisy (sbx-noisy-*", "line-from-the-service"])


def test_unknown_option_and_strict_markers(pytester, store):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.container("bb", colour="blue")
        def test_bad(sandbox):
            pass

        @pytest.mark.container("bb", command="sleep 1000", wait="none")
        def test_ok(sandbox):
            pass
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*unknown option(s) colour*"])


def test_markers_and_fixtures_listed(pytester, store):
    result = pytester.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.container(image_or_service, *,*"])
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest_subprocess("--fixtures")
    result.stdout.fnmatch_lines(["sandbox_factory*session scope*", "sandbox_engine*session scope*", "sandbox -- *"])
    result = pytester.runpytest_subprocess("--help")
    result.stdout.fnmatch_lines(["*--sandbox-keep-failed*", "*--sandbox-prune*"])


def test_service_without_image_or_recipe_says_how_to_provide_it(pytester, store):
    pytester.makepyfile("""
        import pytest

        @pytest.mark.container("mongo")
        def test_mongo(sandbox):
            pass
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*sandbox: no image mongo:7 for the sandbox:*offline*",
                                 "*hint: pull it (sbx pull mongo:7), load it*"])
