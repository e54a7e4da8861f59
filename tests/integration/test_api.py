"""The Python API (what the pytest plugin uses): containers started in-process, from a
single-threaded caller (direct fork) and from a threaded one (through the fork server)."""

from __future__ import annotations

import os
import threading
import urllib.request

import pytest

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(sbx):  # type: ignore[no-untyped-def]
    from sbx.engine import Engine

    return Engine.from_env(str(sbx.root))


def _run_attached(engine, argv):  # type: ignore[no-untyped-def]
    from sbx.runtime.spec import RunOptions

    r, w = os.pipe()
    started = engine.run("bb", RunOptions(command=tuple(argv), auto_remove=True), attached=True,
                         output_fds=(w, w))
    os.close(w)
    code = started.wait_exit()
    out = b""
    while chunk := os.read(r, 65536):
        out += chunk
    os.close(r)
    return code, out


def test_attached_and_detached_from_a_single_threaded_caller(engine):
    from sbx.runtime.execute import ExecSpec
    from sbx.runtime.spec import Port, RunOptions

    assert threading.active_count() == 1
    code, out = _run_attached(engine, ["sh", "-c", "echo hello; exit 4"])
    assert code == 4 and out == b"hello\n"
    started = engine.run("bb", RunOptions(command=("sh", "-c", "mkdir /w; echo api > /w/i; httpd -f -p 80 -h /w"),
                                          ports=(Port(80),)))
    port = started.ports[0].host_port
    proc = engine.exec(started.record.id, ExecSpec(argv=("sh", "-c", "echo $((6*7))")))
    out, err = proc.communicate()
    assert proc.returncode == 0 and out == b"42\n"
    for _ in range(100):
        try:
            assert urllib.request.urlopen(f"http://127.0.0.1:{port}/i", timeout=2).read() == b"api\n"
            break
        except OSError:
            import time

            time.sleep(0.02)
    else:
        raise AssertionError("the published port never answered")
    engine.remove(started.record.id, force=True)


def test_a_threaded_caller_goes_through_the_fork_server(engine):
    from sbx.runtime.forkserver import ForkServer
    from sbx.runtime.spec import Port, RunOptions

    stop = threading.Event()
    t = threading.Thread(target=stop.wait, daemon=True)
    t.start()
    try:
        code, out = _run_attached(engine, ["sh", "-c", "echo via-server >&2; exit 5"])
        assert code == 5 and out == b"via-server\n"
        started = engine.run("bb", RunOptions(command=("sleep", "100"), ports=(Port(80),)))
        assert started.ports[0].host_port > 0
        assert ForkServer._instance is not None and ForkServer._instance.proc is not None
        assert ForkServer._instance.proc.poll() is None
        rec = engine.get(started.record.id)
        assert rec.state.status.value == "running"
        from sbx.errors import CommandNotFound
        from sbx.runtime.execute import ExecSpec

        proc = engine.exec(rec.id, ExecSpec(argv=("sh", "-c", "echo in-$HOSTNAME; echo e >&2; exit 7")))
        assert proc.pid == -1  # the joiner is the fork server's, not ours
        out, err = proc.communicate()
        assert proc.returncode == 7 and out == f"in-{rec.spec.hostname}\n".encode() and err == b"e\n"
        with pytest.raises(CommandNotFound):
            engine.exec(rec.id, ExecSpec(argv=("nosuchcmd",)))
        engine.remove(started.record.id, force=True)
    finally:
        stop.set()
        t.join()
