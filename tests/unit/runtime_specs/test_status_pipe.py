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
