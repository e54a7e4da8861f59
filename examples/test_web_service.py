"""A web service in a fresh, isolated container for every test."""

import urllib.request

import pytest

WEB = ("mkdir -p /www/cgi-bin && echo ok > /www/health && "
       "printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\ncat /tmp/count 2>/dev/null || echo 0\\n' "
       "> /www/cgi-bin/count && chmod +x /www/cgi-bin/count && exec httpd -f -p 8080 -h /www")

pytestmark = pytest.mark.container("bb", name="web", command=WEB, ports=[8080], wait="http:8080/health")


def test_health(sandbox):
    assert urllib.request.urlopen(sandbox["web"].url + "/health").read() == b"ok\n"


def test_cgi_counter_starts_fresh(sandbox):
    # every test gets its own container: state from other tests never leaks in
    assert urllib.request.urlopen(sandbox["web"].url + "/cgi-bin/count").read() == b"0\n"


def test_exec_into_the_service(sandbox):
    web = sandbox["web"]
    assert web.exec("echo 5 > /tmp/count") == (0, "")
    assert urllib.request.urlopen(web.url + "/cgi-bin/count").read() == b"5\n"
