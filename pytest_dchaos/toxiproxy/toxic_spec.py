"""A toxic as configured through the API: name, kind, stream, toxicity and attributes.

Specs are immutable; an update builds a new spec and the proxy hands it to every live link.
Parsing follows Toxiproxy's ``AddToxicJson``/``UpdateToxicJson`` step by step, including the
order of its checks, so a bad request gets the same status and message from both servers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any

from .decoding import expect_object, field, float_field, int_field, string_field
from .errors import INVALID_STREAM, INVALID_TOXIC_TYPE, TOXIC_ALREADY_EXISTS
from .toxics import TOXIC_KINDS, ToxicKind

UPSTREAM = "upstream"
DOWNSTREAM = "downstream"
#: Toxiproxy lists (and runs) upstream toxics before downstream ones.
DIRECTIONS = (UPSTREAM, DOWNSTREAM)


@dataclass(frozen=True)
class ToxicSpec:
    name: str
    kind: ToxicKind
    #: The stream exactly as the client spelled it (Toxiproxy echoes ``"UpStream"`` back).
    stream: str
    toxicity: float
    attributes: Mapping[str, int]

    @property
    def direction(self) -> str:
        return self.stream.lower()

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.kind.name,
            "stream": self.stream,
            "toxicity": _go_float(self.toxicity),
        }


def _go_float(value: float) -> float | int:
    """Go prints a float32 1.0 as ``1``; keep responses byte-compatible where it is free."""
    return int(value) if value.is_integer() else value


def parse_toxic(body: Any, exists: Callable[[str], bool]) -> ToxicSpec:
    """Build a new toxic from a decoded request body; raise ApiError as Toxiproxy would."""
    obj = expect_object(body, "toxics.ToxicWrapper")
    name = string_field(obj, "name", "ToxicWrapper") or ""
    type_name = string_field(obj, "type", "ToxicWrapper") or ""
    stream = string_field(obj, "stream", "ToxicWrapper")
    stream = DOWNSTREAM if stream is None else stream
    toxicity = float_field(obj, "toxicity", "ToxicWrapper")
    toxicity = 1.0 if toxicity is None else toxicity
    if stream.lower() not in DIRECTIONS:
        raise INVALID_STREAM
    if not name:
        name = f"{type_name}_{stream}"
    kind = TOXIC_KINDS.get(type_name)
    if kind is None:
        raise INVALID_TOXIC_TYPE
    if exists(name):
        raise TOXIC_ALREADY_EXISTS
    attributes = _parse_attributes(
        kind, field(obj, "attributes"), dict.fromkeys(kind.attributes, 0)
    )
    return ToxicSpec(name, kind, stream, toxicity, attributes)


def update_toxic(toxic: ToxicSpec, body: Any) -> ToxicSpec:
    """``toxic`` with the attributes and toxicity the body gives; everything else is kept.

    Attributes merge: keys the body leaves out keep their values, as Go decodes into the
    existing struct.
    """
    obj = expect_object(body, "struct { Attributes interface {}; Toxicity float32 }")
    toxicity = float_field(obj, "toxicity", "Toxicity")
    attributes = _parse_attributes(toxic.kind, field(obj, "attributes"), dict(toxic.attributes))
    return replace(
        toxic,
        toxicity=toxic.toxicity if toxicity is None else toxicity,
        attributes=attributes,
    )


def _parse_attributes(kind: ToxicKind, raw: Any, start: dict[str, int]) -> Mapping[str, int]:
    obj = expect_object(raw, f"toxics.{kind.go_struct}")
    for key in kind.attributes:
        value = int_field(obj, key, f"{kind.go_struct}.attributes")
        if value is not None:
            start[key] = value
    return MappingProxyType(start)
