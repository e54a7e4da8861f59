"""The ``sandbox_userns`` ini option reaches the service containers (``--userns=auto``)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

HTTPD = ('command="mkdir -p /www && echo ok > /www/index.html && exec httpd -f -p 8080 -h /www", '
         'ports=[8080]')


@pytest.mark.root_only("root mode's --userns=auto")
def test_sandbox_userns_auto_reaches_the_container(pytester, store):
    pytester.makeini("[pytest]\nsandbox_userns = auto\n")
    pytester.makepyfile(f"""
        import pytest, urllib.request

        @pytest.mark.container("bb", name="web", {HTTPD})
        def test_web(sandbox):
            c = sandbox["web"]
            code, out = c.exec("id -u; cat /proc/self/uid_map")
            uid, inside, outside, count = out.split()
            assert code == 0 and uid == "0" and inside == "0" and count == "65536"
            assert int(outside) >= 65536
            rec = c._engine.get(c.id)
            assert rec.spec.userns == "auto" and rec.spec.uid_map[0][1] == int(outside)
            assert urllib.request.urlopen(c.url, timeout=5).read() == b"ok\\n"
    """)
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


@pytest.mark.rootless_only("the note of rootless mode")
def test_sandbox_userns_auto_is_noted_in_rootless_mode(pytester, store):
    pytester.makeini("[pytest]\nsandbox_userns = auto\n")
    pytester.makepyfile(f"""
        import pytest

        @pytest.mark.container("bb", name="web", {HTTPD})
        def test_web(sandbox):
            assert sandbox["web"]._engine.get(sandbox["web"].id).spec.userns == ""
    """)
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-s")
    r.assert_outcomes(passed=1)
    assert "sandbox_userns = auto applies in root mode only" in r.stdout.str() + r.stderr.str()


def test_a_bad_sandbox_userns_is_a_usage_error(pytester):
    pytester.makeini("[pytest]\nsandbox_userns = keep-id\n")
    pytester.makepyfile("def test_x():\n    pass\n")
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert r.ret == pytest.ExitCode.USAGE_ERROR
    assert "sandbox_userns = 'keep-id': invalid --userns value" in r.stderr.str()
