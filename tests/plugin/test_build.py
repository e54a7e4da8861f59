"""Images built from a Dockerfile by the marker (``build=``) and by ``sandbox.build``."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_marker_build_and_sandbox_build(pytester, store):
    pytester.makefile("", **{"app/Dockerfile": (
        "FROM bb\n"
        "RUN mkdir -p /www && echo built > /www/index.html\n"
        'CMD ["httpd", "-f", "-p", "8000", "-h", "/www"]\n')})
    pytester.makepyfile("""
        import urllib.request
        import pytest

        @pytest.mark.container("app", build="app", ports=[8000], wait="http:8000/")
        @pytest.mark.parametrize("n", range(2))
        def test_app(sandbox, n):
            assert urllib.request.urlopen(sandbox["app"].url + "/").read() == b"built\\n"

        def test_sandbox_build(sandbox):
            image = sandbox.build("app", tag="myapp:test")
            assert image == "myapp:test"
            c = sandbox.run(image, ports=[8000], wait="http:8000/")
            assert c.exec("cat /www/index.html") == (0, "built\\n")
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    store.run("rmi", "myapp:test")
