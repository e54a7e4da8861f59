"""Sizes, CPUs, durations and signals parsed like Docker and Go."""

from __future__ import annotations

import signal

import pytest
from sbx.errors import InvalidArgument
from sbx.units import format_duration, parse_bytes, parse_cpus, parse_duration, parse_signal

KI, MI, GI = 1 << 10, 1 << 20, 1 << 30


@pytest.mark.parametrize("text, n", [
    ("0", 0), ("1024", 1024), ("32", 32), ("32b", 32), ("32B", 32), ("32k", 32 * KI), ("32K", 32 * KI),
    ("32kb", 32 * KI), ("32Kb", 32 * KI), ("32KiB", 32 * KI), ("32Ki", 32 * KI), ("512m", 512 * MI),
    ("512M", 512 * MI), ("1g", GI), ("1.5GiB", GI + GI // 2), ("32.3", 32), ("0.3m", int(0.3 * MI)),
    ("1t", 1 << 40), ("1p", 1 << 50), ("32 mb", 32 * MI), ("1.5g", 3 * GI // 2),
])
def test_parse_bytes(text: str, n: int) -> None:
    assert parse_bytes(text) == n


@pytest.mark.parametrize("text", ["", "abc", "-1", "m", "1x", "1  m", "1.2.3m", " 1m", "1mm", "1e3"])
def test_parse_bytes_errors(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_bytes(text)
    assert info.value.message == f"invalid size: '{text}'"


@pytest.mark.parametrize("text, value", [("0.5", 0.5), ("1", 1.0), ("2.000000001", 2.000000001),
                                         ("0.01", 0.01), ("4", 4.0), ("0", 0.0)])
def test_parse_cpus(text: str, value: float) -> None:
    assert parse_cpus(text, host_cpus=4) == value


@pytest.mark.parametrize("text, message", [
    ("abc", "failed to parse abc as a rational number"),
    ("0.0000000001", "invalid --cpus value 0.0000000001: value is too precise"),
    ("4.5", "range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available"),
    ("-1", "range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available"),
    ("0.001", "range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available"),
])
def test_parse_cpus_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_cpus(text, host_cpus=4)
    assert info.value.message == message


def test_parse_cpus_uses_host_count() -> None:
    import os

    assert parse_cpus(str(os.cpu_count() or 1)) == float(os.cpu_count() or 1)


@pytest.mark.parametrize("text, seconds", [
    ("0", 0.0), ("10s", 10.0), ("1m30s", 90.0), ("500ms", 0.5), ("1.5h", 5400.0), ("-2s", -2.0),
    ("+3s", 3.0), ("1h2m3s4ms5us6ns", 3723.004005006), ("2µs", 2e-6), ("2μs", 2e-6), (".5s", 0.5),
    ("5.s", 5.0), ("1ns", 1e-9),
])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds, abs=1e-12)


@pytest.mark.parametrize("text, message", [
    ("", 'time: invalid duration ""'),
    ("abc", 'time: invalid duration "abc"'),
    ("10", 'time: missing unit in duration "10"'),
    ("1m30", 'time: missing unit in duration "1m30"'),
    ("10x", 'time: unknown unit "x" in duration "10x"'),
    (".s", 'time: invalid duration ".s"'),
    ("-", 'time: invalid duration "-"'),
])
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_duration(text)
    assert info.value.message == message


@pytest.mark.parametrize("seconds, text", [
    (0, "0s"), (10, "10s"), (90, "1m30s"), (0.5, "500ms"), (3600, "1h0m0s"), (1.5, "1.5s"),
    (2e-6, "2µs"), (1e-9, "1ns"), (-90, "-1m30s"),
])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("text, num", [
    ("SIGTERM", signal.SIGTERM), ("TERM", signal.SIGTERM), ("term", signal.SIGTERM),
    ("sigkill", signal.SIGKILL), ("KILL", 9), ("15", 15), ("9", 9), ("HUP", 1), ("USR1", signal.SIGUSR1),
    ("SIGCHLD", signal.SIGCHLD), ("RTMIN", signal.SIGRTMIN), ("RTMIN+3", signal.SIGRTMIN + 3),
    ("SIGRTMAX-1", signal.SIGRTMAX - 1), ("RTMAX", signal.SIGRTMAX), ("IOT", signal.SIGABRT),
])
def test_parse_signal(text: str, num: int) -> None:
    assert parse_signal(text) == int(num)


@pytest.mark.parametrize("text", ["", "0", "-1", "NOPE", "SIG", "999", "RTMIN-1", "RTMAX+1", "_X",
                                  "SIG_DFL", "Signals"])
def test_parse_signal_errors(text: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        parse_signal(text)
    assert info.value.message == f"Invalid signal: {text}"
