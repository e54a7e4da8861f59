"""Did-you-mean suggestions for misspelt instructions and flags (Levenshtein distance < 3,
the threshold BuildKit's ``util/suggest`` uses)."""

from __future__ import annotations

from collections.abc import Iterable


def distance(a: str, b: str) -> int:
    """The Levenshtein edit distance between two strings."""
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1,
                               previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def closest(value: str, options: Iterable[str], *, case_sensitive: bool) -> str | None:
    """The option nearest to ``value`` (distance below 3), or None.

    Without case sensitivity the suggestion takes the case of ``value`` when that is all
    lower or all upper case (``runn`` suggests ``run``, ``RUNN`` suggests ``RUN``).
    """
    probe = value if case_sensitive else value.lower()
    best: str | None = None
    best_distance = 3
    for option in sorted(options):
        candidate = option if case_sensitive else option.lower()
        if candidate == probe:
            return None
        d = distance(probe, candidate)
        if d < best_distance:
            best, best_distance = option, d
    if best is None or case_sensitive:
        return best
    if value == value.lower():
        return best.lower()
    if value == value.upper():
        return best.upper()
    return best
