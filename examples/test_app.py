"""An app image built from its own Dockerfile (examples/app), tested over HTTP: the image is
built once (cached in the store), every test gets a fresh container of it."""

from pathlib import Path
from urllib.error import HTTPError
from urllib.request import urlopen

import pytest

APP = str(Path(__file__).parent / "app")

pytestmark = pytest.mark.container("app", build=APP, ports=[8000], wait="http:8000/")


def test_home_page(sandbox):
    assert urlopen(sandbox["app"].url + "/").read() == b"example app\n"


@pytest.mark.parametrize("visits", [1, 3])
def test_visits_count_from_one_in_every_test(sandbox, visits):
    for n in range(1, visits + 1):
        assert urlopen(sandbox["app"].url + "/cgi-bin/visit?name=ann").read() == f"ann {n}\n".encode()


def test_bad_request(sandbox):
    with pytest.raises(HTTPError) as err:
        urlopen(sandbox["app"].url + "/cgi-bin/visit")
    assert err.value.code == 400


def test_app_logs_and_exec(sandbox):
    app = sandbox["app"]
    urlopen(app.url + "/cgi-bin/visit?name=bob").read()
    assert app.exec("cat /srv/data/bob") == (0, "1\n")
