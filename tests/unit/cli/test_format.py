"""Docker-like human output: go-units durations and sizes, statuses, RFC 3339, tabwriter."""

from __future__ import annotations

import pytest
from sbx.cli.format import (
    ZERO_TIME,
    bytes_size,
    created_ago,
    ellipsis,
    format_rfc3339_nano,
    format_rfc3339_nano_ns,
    go_quote,
    human_duration,
    human_size,
    parse_timestamp,
    parse_timestamp_ns,
    status_text,
    table,
    tabwrite,
    truncate_command,
)
from sbx.errors import InvalidArgument

MIN, HOUR, DAY = 60, 3600, 86400


@pytest.mark.parametrize("seconds, text", [
    (-5, "Less than a second"),
    (0, "Less than a second"),
    (0.999, "Less than a second"),
    (1, "1 second"),
    (1.9, "1 second"),
    (2, "2 seconds"),
    (59.9, "59 seconds"),
    (60, "About a minute"),
    (119, "About a minute"),
    (120, "2 minutes"),
    (59 * MIN + 59, "59 minutes"),
    (60 * MIN, "About an hour"),
    (HOUR + 29 * MIN, "About an hour"),
    (HOUR + 30 * MIN, "2 hours"),
    (47 * HOUR, "47 hours"),
    (47 * HOUR + 31 * MIN, "2 days"),
    (48 * HOUR, "2 days"),
    (13 * DAY, "13 days"),
    (14 * DAY, "2 weeks"),
    (59 * DAY, "8 weeks"),
    (60 * DAY, "2 months"),
    (364 * DAY, "12 months"),
    (2 * 365 * DAY - HOUR, "24 months"),
    (2 * 365 * DAY, "2 years"),
    (10 * 365 * DAY, "10 years"),
])
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_created_ago() -> None:
    assert created_ago(100.0, now=104.5) == "4 seconds ago"
    assert created_ago(100.0, now=100.2) == "Less than a second ago"


@pytest.mark.parametrize("state, started, finished, code, text", [
    ("created", None, None, None, "Created"),
    ("running", 1000.0, None, None, "Up 3 seconds"),
    ("running", 1003.0, None, None, "Up Less than a second"),
    ("paused", 1000.0, None, None, "Up 3 seconds (Paused)"),
    ("restarting", 900.0, 1000.0, 1, "Restarting (1) 3 seconds ago"),
    ("exited", 800.0, 883.0, 0, "Exited (0) 2 minutes ago"),
    ("exited", 800.0, 1002.0, 137, "Exited (137) 1 second ago"),
    ("exited", None, None, 0, "Created"),
    ("removing", 1.0, 2.0, 0, "Removal In Progress"),
    ("dead", 1.0, 2.0, 0, "Dead"),
])
def test_status_text(state: str, started: float | None, finished: float | None,
                     code: int | None, text: str) -> None:
    assert status_text(state, started, finished, code, now=1003.0) == text


def test_status_with_health() -> None:
    assert status_text("running", 0.0 + 1, None, None, now=11.0, health="healthy") == \
        "Up 10 seconds (healthy)"


@pytest.mark.parametrize("n, text", [
    (0, "0B"), (1, "1B"), (999, "999B"), (1000, "1kB"), (1024, "1.024kB"),
    (1234567, "1.235MB"), (1_500_000_000, "1.5GB"), (10 ** 12, "1TB"),
    (999_999, "1000kB"), (10 ** 24, "1YB"), (10 ** 27, "1000YB"),
])
def test_human_size(n: int, text: str) -> None:
    assert human_size(n) == text


@pytest.mark.parametrize("n, text", [(1234567, "1.23MB"), (5_000_000, "5MB"), (4_449_000, "4.45MB")])
def test_human_size_precision_3(n: int, text: str) -> None:
    assert human_size(n, 3) == text


@pytest.mark.parametrize("n, text", [(0, "0B"), (1024, "1KiB"), (1536 * 1024, "1.5MiB"), (1 << 30, "1GiB")])
def test_bytes_size(n: int, text: str) -> None:
    assert bytes_size(n) == text


@pytest.mark.parametrize("text, ns", [
    ("1970-01-01T00:00:00Z", 0),
    ("2026-11-28T13:05:05.123456789Z", 1795871105123456789),
    ("2026-11-28T13:05:05.5Z", 1795871105500000000),
    ("2026-11-28T15:05:05+02:00", 1795871105000000000),
    ("2026-11-28T10:35:05-02:30", 1795871105000000000),
    ("2000-02-29T00:00:00Z", 951782400 * 10**9),
    ("1969-12-31T23:59:59Z", -10**9),
    (ZERO_TIME, None),
])
def test_parse_timestamp(text: str, ns: int | None) -> None:
    assert parse_timestamp_ns(text) == ns
    assert parse_timestamp(text) == (None if ns is None else ns / 1e9)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-11-28", "2026-13-01T00:00:00Z",
                                  "2026-11-28T13:05:05"])
def test_parse_timestamp_errors(text: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid timestamp"):
        parse_timestamp_ns(text)


@pytest.mark.parametrize("ns, text", [
    (0, "1970-01-01T00:00:00Z"),
    (1795871105123456789, "2026-11-28T13:05:05.123456789Z"),
    (1795871105120000000, "2026-11-28T13:05:05.12Z"),
    (951782400 * 10**9, "2000-02-29T00:00:00Z"),
    (-10**9, "1969-12-31T23:59:59Z"),
    (None, ZERO_TIME),
])
def test_format_rfc3339_nano_ns(ns: int | None, text: str) -> None:
    assert format_rfc3339_nano_ns(ns) == text
    if ns is not None:
        assert parse_timestamp_ns(text) == ns


def test_format_rfc3339_nano_float() -> None:
    assert format_rfc3339_nano(1795871105.25) == "2026-11-28T13:05:05.25Z"
    assert format_rfc3339_nano(1795871105.123456) == "2026-11-28T13:05:05.123456Z"
    assert format_rfc3339_nano(None) == ZERO_TIME


def test_timestamps_match_time_module() -> None:
    import time

    for secs in (0, 86399, 951868800, 1700000000, 4102444800, 253402300799):
        assert format_rfc3339_nano_ns(secs * 10**9) == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(secs))


def test_table_like_docker_ps() -> None:
    out = table([["f3a1b2c3d4e5", "busybox", '"sleep 1000"', "web"],
                 ["0123456789ab", "redis:7", '"docker-entrypoint.s…"', "cache"]],
                ["CONTAINER ID", "IMAGE", "COMMAND", "NAMES"])
    assert out == (
        "CONTAINER ID   IMAGE     COMMAND                  NAMES\n"
        "f3a1b2c3d4e5   busybox   \"sleep 1000\"             web\n"
        "0123456789ab   redis:7   \"docker-entrypoint.s…\"   cache\n"
    )


def test_table_headers_only() -> None:
    assert table([], ["REPOSITORY", "TAG", "IMAGE ID"]) == "REPOSITORY   TAG       IMAGE ID\n"


@pytest.mark.parametrize("text, out", [
    ("a\tb\n", "a         b\n"),
    ("a\tb\nlonger-than-ten\tc\n", "a                 b\nlonger-than-ten   c\n"),
    ("a\tb\tc\nd\n", "a         b         c\nd\n"),
    # a line without a cell in the column ends the column block
    ("a\tb\nplain\nxxxxxxxxxxxxxxx\tc\n", "a         b\nplain\nxxxxxxxxxxxxxxx   c\n"),
    ("\tx\n", "          x\n"),
    ("no tabs", "no tabs"),
    ("", ""),
    ("é\tx\n", "é         x\n"),
])
def test_tabwrite(text: str, out: str) -> None:
    assert tabwrite(text) == out


def test_tabwrite_settings() -> None:
    assert tabwrite("a\tb\n", minwidth=0, padding=1) == "a b\n"


@pytest.mark.parametrize("cmd, trunc, out", [
    ("sleep 1000", True, '"sleep 1000"'),
    ("docker-entrypoint.sh redis-server", True, '"docker-entrypoint.s…"'),
    ("docker-entrypoint.sh redis-server", False, '"docker-entrypoint.sh redis-server"'),
    ("12345678901234567890", True, '"12345678901234567890"'),
    ("123456789012345678901", True, '"1234567890123456789…"'),
    ('sh -c "echo hi"', True, '"sh -c \\"echo hi\\""'),
    ("a\tb\n", True, '"a\\tb\\n"'),
])
def test_truncate_command(cmd: str, trunc: bool, out: str) -> None:
    assert truncate_command(cmd, trunc) == out


@pytest.mark.parametrize("text, width, out", [
    ("abc", 0, ""), ("abc", 3, "abc"), ("abcd", 3, "ab…"), ("日本語テキスト", 6, "日本…"),
    ("日本語", 6, "日本語"), ("héllo wörld", 5, "héll…"),
])
def test_ellipsis(text: str, width: int, out: str) -> None:
    assert ellipsis(text, width) == out


@pytest.mark.parametrize("text, out", [
    ("", '""'), ("a b", '"a b"'), ("\x00\x7f", '"\\x00\\x7f"'), ("\\", '"\\\\"'), ("é…", '"é…"'),
    ("\u200b", '"\\u200b"'),
])
def test_go_quote(text: str, out: str) -> None:
    assert go_quote(text) == out
