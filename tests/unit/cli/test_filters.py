"""--filter parsing and matching for containers and images, with Docker's rules."""

from __future__ import annotations

import pytest
from sbx.cli.filters import IMAGE_FILTERS, ContainerFacts, Filters, ImageFacts, path_match
from sbx.errors import InvalidArgument

WEB = ContainerFacts(id="f3a1b2c3d4e5" + "0" * 52, name="web", image="busybox:latest",
                     image_id="sha256:" + "ab" * 32, labels={"tier": "front", "team": "a"},
                     status="running", created=100.0)
DB = ContainerFacts(id="0123456789ab" + "1" * 52, name="db-1", image="redis:7",
                    image_id="sha256:" + "cd" * 32, labels={"tier": "back"},
                    status="exited", exit_code=137, created=200.0)
JOB = ContainerFacts(id="9999aaaabbbb" + "2" * 52, name="job", image="busybox:latest",
                     image_id="sha256:" + "ab" * 32, labels={}, status="exited", exit_code=0,
                     created=300.0)
ALL = (WEB, DB, JOB)


def lookup(ref: str) -> ContainerFacts | None:
    return next((c for c in ALL if c.name == ref or c.id.startswith(ref)), None)


def names(args: list[str], **kw: object) -> list[str]:
    f = Filters.parse(args)
    return [c.name for c in ALL if f.match_container(c, lookup=lookup, **kw)]  # type: ignore[arg-type]


@pytest.mark.parametrize("args, expected", [
    ([], ["web", "db-1", "job"]),
    (["id=f3a1"], ["web"]),
    (["id=f3a1", "id=0123"], ["web", "db-1"]),
    (["id=a1b2"], []),
    (["name=web"], ["web"]),
    (["name=^db"], ["db-1"]),
    (["name=^/db"], ["db-1"]),
    (["name=o"], ["job"]),
    (["name=e", "name=d", "name=j"], ["web", "db-1", "job"]),
    (["label=tier"], ["web", "db-1"]),
    (["label=tier=back"], ["db-1"]),
    (["label=tier", "label=team"], ["web"]),
    (["label=tier=front", "label=tier=back"], []),
    (["status=exited"], ["db-1", "job"]),
    (["status=running", "status=exited"], ["web", "db-1", "job"]),
    (["status=paused"], []),
    (["exited=137"], ["db-1"]),
    (["exited=0", "exited=137"], ["db-1", "job"]),
    (["exited=0", "status=running"], []),
    (["ancestor=busybox"], ["web", "job"]),
    (["ancestor=busybox:latest"], ["web", "job"]),
    (["ancestor=redis:7"], ["db-1"]),
    (["ancestor=redis"], []),
    (["ancestor=cdcdcdcd"], ["db-1"]),
    (["ancestor=sha256:abab"], ["web", "job"]),
    (["before=db-1"], ["web"]),
    (["since=db-1"], ["job"]),
    (["since=web", "before=job"], ["db-1"]),
    (["STATUS = running "], ["web"]),
])
def test_container_filters(args: list[str], expected: list[str]) -> None:
    assert names(args) == expected


def test_ancestor_resolver() -> None:
    assert names(["ancestor=anything"], resolve_image=lambda ref: DB.image_id) == ["db-1"]
    assert names(["ancestor=busybox"], resolve_image=lambda ref: None) == ["web", "job"]


@pytest.mark.parametrize("args, message", [
    (["foo=bar"], "invalid filter 'foo'"),
    (["dangling=true"], "invalid filter 'dangling'"),
    (["status"], "bad format of filter (expected name=value): 'status'"),
    (["status=zombie"], "Unrecognised filter value for status: zombie"),
    (["exited=x"], "invalid filter 'exited=x'"),
    (["name=("], "invalid filter 'name=('"),
])
def test_container_filter_errors(args: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Filters.parse(args)
    assert info.value.message.startswith(message)


def test_unknown_before_container() -> None:
    f = Filters.parse(["before=nope"])
    with pytest.raises(InvalidArgument, match="No such container: nope"):
        f.match_container(WEB, lookup=lookup)
    with pytest.raises(InvalidArgument, match="not supported"):
        f.match_container(WEB)


def test_filters_bool_and_get() -> None:
    assert not Filters.parse([])
    f = Filters.parse(["label=a", "label=b", "label=a"])
    assert f and f.get("label") == ("a", "b") and f.get("name") == ()


BUSYBOX = ImageFacts("sha256:" + "11" * 32, ("busybox:latest", "busybox:1.36"), {"maint": "me"}, 10.0)
REDIS = ImageFacts("sha256:" + "22" * 32, ("redis:7",), {}, 20.0)
LOCAL = ImageFacts("sha256:" + "33" * 32, ("localhost:5000/team/app:v1",), {"maint": "you"}, 30.0)
NONE = ImageFacts("sha256:" + "44" * 32, (), {}, 40.0)
IMAGES = (BUSYBOX, REDIS, LOCAL, NONE)


def image_lookup(ref: str) -> ImageFacts | None:
    return next((i for i in IMAGES if ref in i.repo_tags or i.id.startswith(ref)), None)


@pytest.mark.parametrize("args, expected", [
    ([], [0, 1, 2, 3]),
    (["dangling=true"], [3]),
    (["dangling=false"], [0, 1, 2]),
    (["dangling=1"], [3]),
    (["label=maint"], [0, 2]),
    (["label=maint=you"], [2]),
    (["reference=busybox"], [0]),
    (["reference=busybox:1.*"], [0]),
    (["reference=redis:*"], [1]),
    (["reference=*"], [0, 1]),
    (["reference=*:7"], [1]),
    (["reference=localhost:5000/*/*"], [2]),
    (["reference=localhost:5000/*"], []),
    (["reference=busybox", "reference=redis"], [0, 1]),
    (["before=redis:7"], [0]),
    (["since=redis:7"], [2, 3]),
    (["dangling=false", "label=maint"], [0, 2]),
])
def test_image_filters(args: list[str], expected: list[int]) -> None:
    f = Filters.parse(args, IMAGE_FILTERS)
    assert [i for i, img in enumerate(IMAGES) if f.match_image(img, lookup=image_lookup)] == expected


@pytest.mark.parametrize("args, message", [
    (["dangling=maybe"], "invalid filter 'dangling=maybe'"),
    (["dangling=true", "dangling=false"], "invalid filter 'dangling=true,false'"),
    (["status=running"], "invalid filter 'status'"),
])
def test_image_filter_errors(args: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        Filters.parse(args, IMAGE_FILTERS)
    assert info.value.message == message


@pytest.mark.parametrize("pattern, name, ok", [
    ("*", "abc", True), ("*", "a/b", False), ("a?c", "abc", True), ("a?c", "a/c", False),
    ("[ab]x", "bx", True), ("[^ab]x", "cx", True), ("[^ab]x", "ax", False), ("a\\*", "a*", True),
    ("a.b", "axb", False), ("*/*", "x/y", True), ("[a-c]*", "bzz", True),
])
def test_path_match(pattern: str, name: str, ok: bool) -> None:
    assert path_match(pattern, name) is ok


def test_path_match_bad_pattern() -> None:
    with pytest.raises(InvalidArgument):
        path_match("[ab", "a")
