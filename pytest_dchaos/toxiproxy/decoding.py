"""Reading request bodies with the leniencies and the strictness of Go's ``encoding/json``.

Toxiproxy decodes bodies into Go structs, which means: only the first JSON value counts, keys
match case-insensitively, ``null`` leaves a field at its default, unknown keys are ignored, and
a value of the wrong JSON type is a 400 ``bad request body: json: cannot unmarshal ...``.
Clients written against Toxiproxy rely on all of these, so the embedded server follows them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import BAD_REQUEST_BODY, ApiError


def _reject_constant(name: str) -> Any:
    """Go has no NaN or Infinity literals; Python's decoder would accept them."""
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def decode_body(body: bytes) -> Any:
    """The first JSON value in ``body``; 400 ``bad request body: ...`` if there is none."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BAD_REQUEST_BODY.detailed(f"invalid UTF-8 ({exc.reason})") from None
    text = text.lstrip(" \t\r\n")
    if not text:
        raise BAD_REQUEST_BODY.detailed("EOF")
    try:
        value, _ = _DECODER.raw_decode(text)
    except ValueError as exc:
        raise BAD_REQUEST_BODY.detailed(str(exc)) from None
    return value


def json_kind(value: Any) -> str:
    """The JSON type name Go uses in its unmarshal errors."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def type_error(value: Any, where: str, go_type: str) -> ApiError:
    """400 worded like Go's ``UnmarshalTypeError``."""
    kind = json_kind(value)
    if kind == "number":
        kind = f"number {value}"
    return BAD_REQUEST_BODY.detailed(
        f"json: cannot unmarshal {kind} into Go struct field {where} of type {go_type}"
    )


def expect_object(value: Any, go_type: str) -> Mapping[str, Any]:
    """``value`` as a JSON object; ``null`` decodes as an empty one, as in Go."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BAD_REQUEST_BODY.detailed(
            f"json: cannot unmarshal {json_kind(value)} into Go value of type {go_type}"
        )
    return value


def field(obj: Mapping[str, Any], key: str) -> Any:
    """The value for ``key``: an exact match first, then a case-insensitive one (Go's rule)."""
    if key in obj:
        return obj[key]
    lowered = key.lower()
    for name, value in obj.items():
        if name.lower() == lowered:
            return value
    return None


def string_field(obj: Mapping[str, Any], key: str, owner: str) -> str | None:
    value = field(obj, key)
    if value is not None and not isinstance(value, str):
        raise type_error(value, f"{owner}.{key}", "string")
    return value


def bool_field(obj: Mapping[str, Any], key: str, owner: str) -> bool | None:
    value = field(obj, key)
    if value is not None and not isinstance(value, bool):
        raise type_error(value, f"{owner}.{key}", "bool")
    return value


def float_field(obj: Mapping[str, Any], key: str, owner: str) -> float | None:
    value = field(obj, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise type_error(value, f"{owner}.{key}", "float32")
    return float(value)


def int_field(obj: Mapping[str, Any], key: str, owner: str) -> int | None:
    """An integer; Go refuses ``1.5`` and ``1.0`` alike for an int field."""
    value = field(obj, key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise type_error(value, f"{owner}.{key}", "int64")
    if not -(2**63) <= value < 2**63:
        raise type_error(value, f"{owner}.{key}", "int64")
    return value
