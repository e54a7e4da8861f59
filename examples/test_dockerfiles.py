"""The Dockerfiles users write (examples/dockerfiles/), built by the plugin and run: redis
on debian:bookworm-slim with apt-get, a small Python web app, a multi-stage build.  They
need the Debian bases that ``scripts/setup.sh`` bootstraps (no registry involved)."""

import os
import socket
from pathlib import Path
from urllib.request import urlopen

import pytest
from sbx.engine import Engine

HERE = Path(__file__).parent / "dockerfiles"


def _have(ref: str) -> bool:
    try:
        Engine.from_env().images.resolve(ref)
        return True
    except Exception:  # noqa: BLE001 - not in the store
        return False


pytestmark = pytest.mark.skipif(  # (never in CI: there a missing base is a failure)
    os.environ.get("CI") != "true" and not (_have("debian:bookworm") and _have("debian:bookworm-slim")),
    reason="needs the Debian bases: run scripts/setup.sh (sbx bootstrap debian:bookworm ...)")


@pytest.mark.container("redis-example", build=str(HERE / "redis"), ports=[6379], wait="port:6379")
def test_redis_built_with_apt_get(sandbox):
    r = sandbox["redis-example"]
    with socket.create_connection((r.host, r.port(6379))) as s:
        s.sendall(b"PING\r\n")
        assert s.recv(100) == b"+PONG\r\n"


@pytest.mark.container("webapp", build=str(HERE / "webapp"), ports=[8000], wait="http:8000/")
def test_python_web_app(sandbox):
    assert urlopen(sandbox["webapp"].url + "/").read() == b"hello from the sandbox\n"


def test_multi_stage_build_ships_only_the_binary(sandbox):
    import os

    from sbx.runtime.spec import RunOptions

    tag = sandbox.build(str(HERE / "multistage"))
    r, w = os.pipe()
    started = sandbox.engine.run(tag, RunOptions(command=("sandbox",), auto_remove=True),
                                 attached=True, output_fds=(w, w))
    os.close(w)
    assert started.wait_exit() == 0
    assert os.read(r, 1000) == b"hello, sandbox\n"
    os.close(r)
    image = sandbox.engine.images.resolve(tag)
    assert image.size < 5_000_000  # busybox + one static binary, no compiler
