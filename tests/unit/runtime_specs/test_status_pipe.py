"""The launcher's status pipe: a container that ends at once makes the monitor write
"started" and "exited" back to back, and one read can take both."""

from __future__ import annotations

import json
import os

from sbx.runtime.launcher import Started, _Lines
from sbx.runtime.records import ContainerRecord
from sbx.runtime.state import ContainerState


def test_an_exit_read_together_with_the_start_is_not_lost() -> None:
    r, w = os.pipe()
    os.write(w, (json.dumps({"ev": "started", "pid": 42, "ports": []}) + "\n"
                 + json.dumps({"ev": "exited", "code": 3, "oom": False}) + "\n").encode())
    os.close(w)
    reader = _Lines(r)
    assert reader.next() == {"ev": "started", "pid": 42, "ports": []}
    rec = ContainerRecord("c" * 64, "quick", 0.0, None, ContainerState())  # type: ignore[arg-type]
    started = Started(rec, 42, (), r, reader=reader)
    assert started.wait_exit() == 3


def test_a_monitor_that_failed_before_the_start_names_its_traceback() -> None:
    from pathlib import Path

    from sbx.runtime.launcher import _setup_error

    err = _setup_error({"ev": "exited", "code": 255, "oom": False,
                        "error": "the container monitor failed: OSError: [Errno 9] Bad file descriptor"},
                       Path("/var/lib/sbx/containers/abc"))
    line = err.one_line()
    assert "container setup failed at monitor: the container monitor failed: OSError" in line
    assert "/var/lib/sbx/containers/abc/monitor-error.log" in line
