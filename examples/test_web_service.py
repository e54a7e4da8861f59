"""A web service in a fresh, isolated container for every test."""

import urllib.request


def test_health(web):
    assert urllib.request.urlopen(web + "/health").read() == b"ok\n"


def test_cgi_counter_starts_fresh(web):
    # every test gets its own container: state from other tests never leaks in
    assert urllib.request.urlopen(web + "/cgi-bin/count").read() == b"0\n"


def test_exec_into_the_service(engine, web):
    rec = [r for r in engine.list() if r.spec.labels_dict.get("example") == "web"][0]
    from sbx.runtime.execute import ExecSpec

    proc = engine.exec(rec.id, ExecSpec(argv=("sh", "-c", "echo 5 > /tmp/count")))
    assert proc.wait() == 0
    assert urllib.request.urlopen(web + "/cgi-bin/count").read() == b"5\n"
