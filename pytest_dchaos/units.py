"""Quantities with units as people write them in scenarios: ``250ms``, ``100/s``, ``64KiB``.

Durations become seconds (float), rates operations per second (float), sizes bytes (int).
A bare number is refused for durations and rates in scenario files — ``latency: 100`` is
ambiguous between milliseconds and seconds — but the parsers accept plain numbers when the
caller says which unit they mean (``default_unit``), for the CLI and for Python callers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

_NUMBER_FORM = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
_NUMBER = rf"(?P<num>{_NUMBER_FORM})"

_DURATION_UNITS = {
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "m": 60.0,
    "min": 60.0,
    "h": 3600.0,
}
_RATE_UNITS = {"s": 1.0, "sec": 1.0, "m": 1 / 60.0, "min": 1 / 60.0}
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
}

_DURATION_RE = re.compile(rf"^\s*{_NUMBER}\s*(?P<unit>[a-zµ]+)\s*$", re.IGNORECASE)
_RATE_RE = re.compile(rf"^\s*{_NUMBER}\s*/\s*(?P<unit>[a-z]+)\s*$", re.IGNORECASE)
_SIZE_RE = re.compile(rf"^\s*{_NUMBER}\s*(?P<unit>[a-z]*)\s*$", re.IGNORECASE)


def _spelled(units: Iterable[str]) -> str:
    """An alternation of ``units`` that matches them in any case without a flag: JSON
    Schema patterns (ECMA-262) have none, so each letter becomes ``[sS]``. A letter whose
    case does not round-trip (``µ``) is kept as written, as the parsers compare lower case."""
    def letter(char: str) -> str:
        lower, upper = char.lower(), char.upper()
        if char.isascii() and lower != upper:
            return f"[{lower}{upper}]"
        return re.escape(char)
    # In a fixed order, so that the generated schema does not change with the tables'.
    return "|".join("".join(letter(c) for c in unit)
                    for unit in sorted(units, key=lambda u: (-len(u), u)))


#: Patterns (ECMA-262 and Python alike, anchored) for the written forms the parsers accept:
#: what the JSON Schema of scenario files says a duration, rate or size looks like.
DURATION_PATTERN = rf"^\s*{_NUMBER_FORM}\s*(?:{_spelled(_DURATION_UNITS)})\s*$"
#: A rate must also be above zero: the look-ahead asks for a digit other than 0.
RATE_PATTERN = rf"^(?=[^/]*[1-9])\s*{_NUMBER_FORM}\s*/\s*(?:{_spelled(_RATE_UNITS)})\s*$"
SIZE_PATTERN = rf"^\s*{_NUMBER_FORM}\s*(?:{_spelled(_SIZE_UNITS)})?\s*$"


class UnitError(ValueError):
    """A quantity could not be read; the message says what forms are allowed."""


DURATION_FORMS = "a number with a unit: 500us, 250ms, 2s, 1.5m, 1h"
RATE_FORMS = "operations per time: 100/s, 30/m"
SIZE_FORMS = "a number of bytes with an optional unit: 512, 64KiB, 10MB"


def parse_duration(value: object, *, default_unit: str | None = None) -> float:
    """Return ``value`` as seconds. Plain numbers need ``default_unit`` ("s" or "ms")."""
    if isinstance(value, bool):
        raise UnitError(f"expected a duration ({DURATION_FORMS}), got {value!r}")
    if isinstance(value, int | float):
        if default_unit is None:
            raise UnitError(
                f"{value!r} has no unit; write it as {value}ms or {value}s"
            )
        seconds = float(value) * _DURATION_UNITS[default_unit]
    elif isinstance(value, str):
        match = _DURATION_RE.match(value)
        if not match or match["unit"].lower() not in _DURATION_UNITS:
            raise UnitError(f"expected a duration ({DURATION_FORMS}), got {value!r}")
        seconds = float(match["num"]) * _DURATION_UNITS[match["unit"].lower()]
    else:
        raise UnitError(f"expected a duration ({DURATION_FORMS}), got {value!r}")
    if seconds < 0 or not math.isfinite(seconds):
        raise UnitError(f"a duration must be a finite number, not negative, got {value!r}")
    return seconds


def parse_rate(value: object, *, default_unit: str | None = None) -> float:
    """Return ``value`` as operations per second."""
    if isinstance(value, bool):
        raise UnitError(f"expected a rate ({RATE_FORMS}), got {value!r}")
    if isinstance(value, int | float):
        if default_unit is None:
            raise UnitError(f"{value!r} has no unit; write it as {value}/s")
        rate = float(value) * _RATE_UNITS[default_unit]
    elif isinstance(value, str) and (match := _RATE_RE.match(value)) and (
            match["unit"].lower() in _RATE_UNITS):
        rate = float(match["num"]) * _RATE_UNITS[match["unit"].lower()]
    else:
        raise UnitError(f"expected a rate ({RATE_FORMS}), got {value!r}")
    if rate < 0 or not math.isfinite(rate):
        raise UnitError(f"a rate must be a finite number, not negative, got {value!r}")
    return rate


def parse_size(value: object) -> int:
    """Return ``value`` as a number of bytes; plain integers are bytes."""
    if isinstance(value, bool):
        raise UnitError(f"expected a size ({SIZE_FORMS}), got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise UnitError(f"a size cannot be negative, got {value!r}")
        return value
    if isinstance(value, str):
        match = _SIZE_RE.match(value)
        unit = (match["unit"] or "b").lower() if match else ""
        if match and unit in _SIZE_UNITS:
            size = float(match["num"]) * _SIZE_UNITS[unit]
            if not size.is_integer():
                raise UnitError(f"{value!r} is not a whole number of bytes")
            return int(size)
    raise UnitError(f"expected a size ({SIZE_FORMS}), got {value!r}")


def format_duration(seconds: float) -> str:
    """Render seconds the way a person reads them: ``850ms``, ``2.5s``."""
    if round(seconds * 1000) < 1000:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 120:
        return f"{seconds:.3g}s"
    return f"{seconds / 60:.3g}m"
