"""Random container names and the container-name rule."""

from __future__ import annotations

import random

import pytest
from sbx.errors import Conflict, InvalidArgument
from sbx.names import ADJECTIVES, SURNAMES, random_name, validate_name


def test_lists() -> None:
    assert len(ADJECTIVES) >= 100 and len(set(ADJECTIVES)) == len(ADJECTIVES)
    assert len(SURNAMES) >= 150 and len(set(SURNAMES)) == len(SURNAMES)
    assert all(w.isalpha() and w.islower() for w in ADJECTIVES + SURNAMES)
    assert "boring" in ADJECTIVES and "wozniak" in SURNAMES


def test_shape_and_validity() -> None:
    rng = random.Random(1)
    for _ in range(200):
        name = random_name(set(), rng=rng)
        adj, _, surname = name.partition("_")
        assert adj in ADJECTIVES and surname in SURNAMES
        assert validate_name(name) == name


class Scripted:
    """A fake rng that returns scripted indexes."""

    def __init__(self, values: list[int]) -> None:
        self.values = values

    def randrange(self, n: int) -> int:
        return self.values.pop(0) % n


def test_never_boring_wozniak() -> None:
    b, w = ADJECTIVES.index("boring"), SURNAMES.index("wozniak")
    rng = Scripted([b, w, b, 0])
    assert random_name(set(), rng=rng) == f"boring_{SURNAMES[0]}"


def test_retry_appends_digit() -> None:
    rng = Scripted([0, 0, 0, 0, 7])
    first = f"{ADJECTIVES[0]}_{SURNAMES[0]}"
    assert random_name({first}, rng=rng) == first + "7"


def test_predicate_and_fallback() -> None:
    assert random_name(lambda n: True, rng=random.Random(0), fallback="f3a1b2c3d4e5") == "f3a1b2c3d4e5"
    with pytest.raises(Conflict):
        random_name(lambda n: True, rng=random.Random(0))


def test_default_rng() -> None:
    assert "_" in random_name()


@pytest.mark.parametrize("name, result", [
    ("web", "web"), ("ab", "ab"), ("r", "r"), ("/web", "web"), ("a.b-c_d", "a.b-c_d"), ("9lives", "9lives"),
])
def test_validate_name_ok(name: str, result: str) -> None:
    assert validate_name(name) == result


@pytest.mark.parametrize("name", ["", "-web", "_web", ".web", "we b", "web/x", "wéb", "web\n", "//web"])
def test_validate_name_rejects(name: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        validate_name(name)
    assert info.value.message == \
        f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
