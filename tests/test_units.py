"""Quantities with units: durations, rates, sizes, and what is refused."""

from __future__ import annotations

import re
from typing import Any

import pytest

from pytest_dchaos import units
from pytest_dchaos.units import (
    DURATION_FORMS,
    RATE_FORMS,
    SIZE_FORMS,
    UnitError,
    format_duration,
    parse_duration,
    parse_rate,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("2s", 2.0),
        ("2sec", 2.0),
        ("1.5m", 90.0),
        ("3min", 180.0),
        ("1h", 3600.0),
        ("500us", 0.0005),
        ("3µs", 3e-6),
        (".5s", 0.5),
        (" 10 ms ", 0.01),
        ("1H", 3600.0),
        ("250MS", 0.25),
        ("0s", 0.0),
    ],
)
def test_duration_text_becomes_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("value", "unit", "seconds"),
    [(100, "ms", 0.1), (2, "s", 2.0), (1.5, "s", 1.5), (0, "ms", 0.0), (3, "m", 180.0)],
)
def test_duration_number_needs_and_uses_default_unit(value: float, unit: str,
                                                     seconds: float) -> None:
    assert parse_duration(value, default_unit=unit) == pytest.approx(seconds)


@pytest.mark.parametrize("value", [100, 0, 2.5])
def test_bare_number_duration_is_refused_with_both_spellings(value: float) -> None:
    with pytest.raises(UnitError) as info:
        parse_duration(value)
    assert str(info.value) == f"{value!r} has no unit; write it as {value}ms or {value}s"


@pytest.mark.parametrize("text", ["5", "2d", "ms", "", "1e3ms", "2.", "-5ms", "five s",
                                  "5 s s"])
def test_malformed_duration_text_names_allowed_forms(text: str) -> None:
    with pytest.raises(UnitError) as info:
        parse_duration(text)
    assert str(info.value) == f"expected a duration ({DURATION_FORMS}), got {text!r}"


@pytest.mark.parametrize("value", [True, False, None, [1], {"s": 1}])
def test_duration_refuses_bools_and_non_scalars(value: object) -> None:
    with pytest.raises(UnitError, match="expected a duration"):
        parse_duration(value, default_unit="s")


def test_negative_duration_number_is_refused() -> None:
    with pytest.raises(UnitError) as info:
        parse_duration(-1, default_unit="s")
    assert str(info.value) == "a duration must be a finite number, not negative, got -1"


def test_unit_error_is_a_value_error() -> None:
    assert issubclass(UnitError, ValueError)


@pytest.mark.parametrize(
    ("text", "per_second"),
    [("100/s", 100.0), ("100/sec", 100.0), ("30/m", 0.5), ("30 / min", 0.5),
     ("2.5/s", 2.5), ("60/M", 1.0)],
)
def test_rate_text_becomes_per_second(text: str, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second)


def test_rate_number_with_default_unit() -> None:
    assert parse_rate(100, default_unit="s") == 100.0
    assert parse_rate(120, default_unit="m") == pytest.approx(2.0)


def test_bare_number_rate_is_refused_with_the_spelling() -> None:
    with pytest.raises(UnitError) as info:
        parse_rate(100)
    assert str(info.value) == "100 has no unit; write it as 100/s"


@pytest.mark.parametrize("value", ["100", "5/h", "/s", "-5/s", "100 per s", "s/100", True,
                                   False, None])
def test_malformed_rate_names_allowed_forms(value: object) -> None:
    with pytest.raises(UnitError) as info:
        parse_rate(value)
    assert str(info.value) == f"expected a rate ({RATE_FORMS}), got {value!r}"


@pytest.mark.parametrize(
    ("value", "size"),
    [(512, 512), (0, 0), ("512", 512), ("64KiB", 65536), ("64kib", 65536), ("10MB", 10**7),
     ("1kb", 1000), ("2 MiB", 2 * 1024**2), ("3 GiB", 3 * 1024**3), ("1GB", 10**9),
     ("1.5KiB", 1536), ("7b", 7)],
)
def test_sizes_become_bytes(value: object, size: int) -> None:
    assert parse_size(value) == size


def test_negative_size_is_refused() -> None:
    with pytest.raises(UnitError) as info:
        parse_size(-1)
    assert str(info.value) == "a size cannot be negative, got -1"


@pytest.mark.parametrize("value", ["-1", "5 bits", "KiB", 1.5, True, False, None, "1 TB"])
def test_malformed_size_names_allowed_forms(value: object) -> None:
    with pytest.raises(UnitError) as info:
        parse_size(value)
    assert str(info.value) == f"expected a size ({SIZE_FORMS}), got {value!r}"


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.85, "850ms"), (0.0, "0ms"), (0.0004, "0ms"), (1.0, "1s"), (2.5, "2.5s"),
     (119.0, "119s"), (120.0, "2m"), (300.0, "5m")],
)
def test_format_duration_reads_like_a_person_writes(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("text", ["850ms", "2.5s", "5m"])
def test_format_duration_round_trips_through_parse(text: str) -> None:
    assert format_duration(parse_duration(text)) == text


@pytest.mark.parametrize("bad", ["-5/s", -5, float("nan"), float("inf")])
def test_rates_are_finite_and_not_negative(bad: object) -> None:
    with pytest.raises(units.UnitError):
        units.parse_rate(bad, default_unit="s")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_durations_are_finite(bad: float) -> None:
    with pytest.raises(units.UnitError):
        units.parse_duration(bad, default_unit="s")


def test_sizes_are_whole_bytes_and_durations_round_sensibly() -> None:
    with pytest.raises(units.UnitError):
        units.parse_size("0.5")
    assert units.format_duration(0.9996) == "1s"


# The JSON Schema's patterns must accept exactly what the parsers accept, in any case.
@pytest.mark.parametrize("text", [
    "250ms", "2s", "2 s", " 2s ", "2sec", "1.5m", "3min", "1h", ".5s", "5.s", "500us", "3µs",
    "250MS", "2S", "3Min", "1H", "500US", "3µS",
    "2", "2x", "s", "-2s", "2ms5", "1e3ms", "2 ss", "", "2,5s", "inf s",
    "3\u039cs",  # a capital mu: its lower case is not µ
])
def test_the_duration_pattern_accepts_what_parse_duration_does(text: str) -> None:
    assert _accepts(parse_duration, text) == _matches(units.DURATION_PATTERN, text)


@pytest.mark.parametrize("text", [
    "100/s", "30/m", "2/min", "5/sec", " 10 / s ", "0.5/s", ".5/S", "1/MIN",
    "0/s", "0.0/s", "00/m", "100", "100/h", "/s", "-1/s", "1/", "1//s",
])
def test_the_rate_pattern_accepts_a_rate_above_zero(text: str) -> None:
    def positive(value: str) -> float:
        rate = parse_rate(value)
        if rate <= 0:
            raise UnitError("not above zero")
        return rate

    assert _accepts(positive, text) == _matches(units.RATE_PATTERN, text)


@pytest.mark.parametrize("text", [
    "512", "64KiB", "10MB", "1kb", "2GiB", "3 b", "0.5KB", "1MIB",
    "64 KB B", "1TB", "KB", "-1", "1.5.2",
])
def test_the_size_pattern_accepts_what_parse_size_does(text: str) -> None:
    assert _accepts(parse_size, text) == _matches(units.SIZE_PATTERN, text)


def _accepts(parse: Any, text: str) -> bool:
    try:
        parse(text)
    except UnitError:
        return False
    return True


def _matches(pattern: str, text: str) -> bool:
    return re.search(pattern, text) is not None
