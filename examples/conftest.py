"""The example suite's fixtures: service containers started through sbx's Python API.

(The ``@pytest.mark.container`` plugin is on its way; until then these fixtures show the
engine API it is built on.)  Needs root and the ``bb`` image that ``scripts/setup.sh``
imports."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator

import pytest

from sbx.engine import Engine
from sbx.runtime.spec import Port, RunOptions


@pytest.fixture(scope="session")
def engine() -> Engine:
    return Engine.from_env()


def _wait_http(url: str, timeout: float = 5.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return urllib.request.urlopen(url, timeout=1).read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@pytest.fixture
def web(engine: Engine) -> Iterator[str]:
    """A fresh busybox httpd per test, published on a random loopback port."""
    script = ("mkdir -p /www/cgi-bin && echo ok > /www/health && "
              "printf '#!/bin/sh\\necho Content-Type: text/plain\\necho\\ncat /tmp/count 2>/dev/null || echo 0\\n' > /www/cgi-bin/count && "
              "chmod +x /www/cgi-bin/count && exec httpd -f -p 8080 -h /www")
    started = engine.run("bb", RunOptions(command=("sh", "-c", script), ports=(Port(8080),),
                                          labels=(("example", "web"),)))
    url = f"http://127.0.0.1:{started.ports[0].host_port}"
    try:
        _wait_http(url + "/health")
        yield url
    finally:
        engine.remove(started.record.id, force=True)
