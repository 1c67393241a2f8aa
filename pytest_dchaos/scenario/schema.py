"""A small schema language for scenario sections, fault options and check options.

Each option is a :class:`Field` with a :class:`Kind` that parses a :class:`YNode` into a
plain, validated Python value, or raises a :class:`ScenarioError` located at the node's line.
Faults, checks and protocol families declare their options with these, so the loader
validates them all the same way, and both the reference documentation (``dchaos catalogue``)
and the JSON Schema editors use (``dchaos schema``, each kind's :meth:`Kind.json_schema`) are
generated from the same declarations instead of being written twice.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_dchaos import units
from pytest_dchaos.scenario.yamlsource import YNode


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()

#: Words that select nodes when the schedule is expanded, rather than naming one node.
#: ``random`` is drawn from the seed before the run; ``leader`` names the node in the
#: protocol's leading role (PBFT's primary, a transaction's coordinator) when the fault
#: fires, and is accepted only for a protocol whose family can tell it
#: (:attr:`ParseContext.leader_role`).
NODE_SELECTORS = ("random", "leader")


@dataclass(frozen=True)
class ParseContext:
    """What option parsing may need to know about the scenario around it."""

    nodes: tuple[str, ...] = ()
    #: What ``leader`` means for this scenario's protocol (e.g. "the primary of the current
    #: view"); empty when its family names no leading node, and ``leader`` is refused.
    leader_role: str = ""


#: JSON Schema's pattern of a node id: n1, n2, ... (the loader checks it names a node of
#: the cluster; the schema cannot see how many there are).
NODE_ID_PATTERN = "^n[1-9][0-9]*$"


class Kind:
    """How one value is read. Subclasses implement :meth:`parse` and :meth:`describe`, and
    :meth:`json_schema` to say the same in JSON Schema."""

    def parse(self, node: YNode, field: str, ctx: ParseContext) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError

    def json_schema(self, ctx: ParseContext) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) fragment of the values :meth:`parse` accepts.

        It may accept more than :meth:`parse` (rules that span fields, or depend on the
        cluster's size, are the loader's alone), never less. By default it accepts
        anything: a third party's kind that says nothing leaves its values to the loader.
        """
        return {}

    def json_default(self, value: Any) -> Any:
        """A parsed default as a scenario would write it (None: show no default)."""
        return _plain(value)


class Str(Kind):
    def __init__(self, choices: Sequence[str] | None = None) -> None:
        self.choices = tuple(choices) if choices else None

    def parse(self, node: YNode, field: str, ctx: ParseContext) -> str:
        if not isinstance(node.value, str):
            raise node.error(f"expected text, got {_show(node)}", field=field)
        if self.choices and node.value not in self.choices:
            raise node.error(
                f"{node.value!r} is not one of {', '.join(self.choices)}",
                field=field,
                hint=_suggest(node.value, self.choices),
            )
        return node.value

    def describe(self) -> str:
        return " | ".join(self.choices) if self.choices else "text"

    def json_schema(self, ctx: ParseContext) -> dict[str, Any]:
        if self.choices:
            return {"enum": list(self.choices)}
        return {"type": "string"}


class Int(Kind):
    def __init__(self, min: int | None = None, max: int | None = None) -> None:
        self.min, self.max = min, max

    def parse(self, node: YNode, field: str, ctx: ParseContext) -> int:
        if isinstance(node.value, bool) or not isinstance(node.value, int):
            raise node.error(f"expected a whole number, got {_show(node)}", field=field)
        _check_range(node, field, node.value, self.min, self.max)
        return node.value

    def describe(self) -> str:
        return "integer" + _range_text(self.min, self.max)

    def json_schema(self, ctx: ParseContext) -> dict[str, Any]:
        return {"type": "integer", **_range_schema(self.min, self.max)}


class Float(Kind):
    def __init__(self, min: float | None = None, max: float | None = None) -> None:
        self.min, self.max = min, max

    def parse(self, node: YNode, field: str, ctx: ParseContext) -> float:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise node.error(f"expected a number, got {_show(node)}", field=field)
        _check_range(node, field, node.value, self.min, self.max)
        return float(node.value)

    def describe(self) -> str:
        return "number" + _range_text(self.min, self.max)

    def json_schema(self, ctx: ParseContext) -> dict[str, Any]:
        return {"type": "number", **_range_schema(self.min, self.max)}


class Probability(Float):
    def __init__(self) -> None:
        super().__init__(0.0, 1.0)

    def describe(self) -> str:
        return "probability (0..1)"


class Bool(Kind):
    def parse(self, node: YNode, field: str, ctx: ParseContext) -> bool:
        if not isinstance(node.value, bool):
            raise node.error(f"expected true or false, got {_show(node)}", field=field)
        return node.value

    def describe(self) -> str:
        return "true | false"

    def json_schema(self, ctx: ParseContext) -> dict[str, Any]:
        return {"type": "boolean"}


class Duration(Kind):
    """A duration with a unit, read as seconds."""

    def parse(self, node: YNode, field: str, ctx: ParseContext) -> float:
        try:
            return units.parse_duration(node.value)
        except units.UnitError as exc:
            raise node.error(str(exc), field=field) from None

    def describe(self) -> str:
        return "duration (250ms, 2s, 1m)"

    def json_schema(self, ctx: ParseContext) -> dict[str, Any]:
        # Text only: a bare number is refused (100 could be milliseconds or seconds).
        return {"type": "string", "pattern": units.DURATION_PATTERN}

    def json_default(self, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            millis = round(value * 1e6) / 1e3  # to the microsecond, without float noise
            return f"{millis / 1000:g}s" if millis >= 1000 else f"{millis:g}ms"
        return super().json_default(value)


class Rate(Kind):
    """A rate with a unit, read as operations per second."""

    def parse(self, node: YNode, field: str, ctx: ParseContext) -> float:
        try:
            rate = units.parse_rate(node.value)
        except units.UnitError as exc:
            raise node.error(str(exc), field=field) from None
        if rate <= 0:
            raise node.error("a rate must be above zero", field=field)
        return rate

    def describe(self) -> str:
        return "rate (100/s, 30/m)"

    def json_schema(self, ctx: ParseContext) -> dict[str, Any]:
        return {"type": "string", "pattern": units.RATE_PATTERN}

    def json_default(self, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"{value:g}/s"
        return super().json_default(value)


class Size(Kind):
    def parse(self, node: YNode, field: str, ctx: ParseContext) -> int:
        try:
            return units.parse_size(node.value)
        except units.UnitError as exc:
            raise node.error(str(exc), field=field) from None

    def describe(self) -> str:
        return "size (512, 64KiB, 10MB)"

    def json_schema(self, ctx: ParseContext) -> dict[str, Any]:
        return {"anyOf": [{"type": "integer", "minimum": 0},
                          {"type": "string", "pattern": units.SIZE_PATTERN}]}


class NodeRef(Kind):
    """A node id of this cluster (``n3``), or a selector resolved by the schedule."""

    def __init__(self, selectors: Sequence[str] = NODE_SELECTORS) -> None:
        self.selectors = tuple(selectors)

    def parse(self, node: YNode, field: str, ctx: ParseContext) -> str:
        value = node.value
        if not isinstance(value, str):
            raise node.error(f"expected a node id like n1, got {_show(node)}", field=field)
        if value == "leader" and value in self.selectors and not ctx.leader_role:
            raise node.error("this protocol names no leading node, so 'leader' cannot be "
                             "targeted", field=field,
                             hint="name a node (n1..nN) or use random")
        if value in self.selectors:
            return value
        if ctx.nodes and value not in ctx.nodes:
            allowed = f"{ctx.nodes[0]}..{ctx.nodes[-1]}"
            usable = [x for x in self.selectors if x != "leader" or ctx.leader_role]
            extra = f" or {', '.join(usable)}" if usable else ""
            raise node.error(
                f"{value!r} is not a node of this cluster ({allowed}{extra})",
                field=field,
                hint=_suggest(value, (*ctx.nodes, *usable)),
            )
        return value

    def describe(self) -> str:
        return "node id (n1..nN)" + "".join(f" | {s}" for s in self.selectors)

    def json_schema(self, ctx: ParseContext) -> dict[str, Any]:
        usable = [x for x in self.selectors if x != "leader" or ctx.leader_role]
        if ctx.nodes:
            return {"enum": [*ctx.nodes, *usable]}
        ids = {"type": "string", "pattern": NODE_ID_PATTERN}
        return {"anyOf": [ids, {"enum": usable}]} if usable else ids


class ListOf(Kind):
    def __init__(self, item: Kind, min_items: int = 0, scalar_ok: bool = False) -> None:
        self.item, self.min_items, self.scalar_ok = item, min_items, scalar_ok

    def parse(self, node: YNode, field: str, ctx: ParseContext) -> tuple[Any, ...]:
        if self.scalar_ok and node.is_scalar:
            return (self.item.parse(node, field, ctx),)
        if not node.is_sequence:
            raise node.error(f"expected a list, got {_show(node)}", field=field)
        if len(node.value) < self.min_items:
            raise node.error(f"needs at least {self.min_items} item(s)", field=field)
        return tuple(
            self.item.parse(child, f"{field}[{i}]", ctx) for i, child in enumerate(node.value)
        )

    def describe(self) -> str:
        return f"list of {self.item.describe()}"

    def json_schema(self, ctx: ParseContext) -> dict[str, Any]:
        item = self.item.json_schema(ctx)
        array: dict[str, Any] = {"type": "array", "items": item}
        if self.min_items:
            array["minItems"] = self.min_items
        return {"anyOf": [item, array]} if self.scalar_ok else array


class AnyData(Kind):
    """Free-form data handed on as it is (e.g. implementation parameters)."""

    def parse(self, node: YNode, field: str, ctx: ParseContext) -> Any:
        return node.plain()

    def describe(self) -> str:
        return "any value"


class MappingOf(Kind):
    """A mapping with free keys (e.g. ``params``); values kept as plain data."""

    def parse(self, node: YNode, field: str, ctx: ParseContext) -> dict[str, Any]:
        if not node.is_mapping:
            raise node.error(f"expected a mapping, got {_show(node)}", field=field)
        plain: dict[str, Any] = node.plain()
        return plain

    def describe(self) -> str:
        return "mapping"

    def json_schema(self, ctx: ParseContext) -> dict[str, Any]:
        return {"type": "object"}


class Custom(Kind):
    """A kind defined by a function, for the few shapes the kinds above cannot say.

    ``schema`` gives its JSON Schema fragment for a context; without it, the schema
    accepts any value there and leaves it to the loader.
    """

    def __init__(self, parse: Callable[[YNode, str, ParseContext], Any], description: str,
                 schema: Callable[[ParseContext], dict[str, Any]] | None = None):
        self._parse, self._description, self._schema = parse, description, schema

    def parse(self, node: YNode, field: str, ctx: ParseContext) -> Any:
        return self._parse(node, field, ctx)

    def describe(self) -> str:
        return self._description

    def json_schema(self, ctx: ParseContext) -> dict[str, Any]:
        return self._schema(ctx) if self._schema else {}


@dataclass(frozen=True)
class Field:
    """One option: its name, how it is read, its default (or REQUIRED) and what it means."""

    name: str
    kind: Kind
    doc: str
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    def json_schema(self, ctx: ParseContext) -> dict[str, Any]:
        """The kind's fragment, described by this option's help text and its default."""
        schema = {**self.kind.json_schema(ctx),
                  "description": f"{self.doc} — {self.kind.describe()}"}
        if not self.required:
            default = self.kind.json_default(self.default)
            if default is not None:
                schema["default"] = default
        return schema


@dataclass(frozen=True)
class Struct(Kind):
    """A mapping with known keys. ``shorthand`` names the field a bare scalar fills.

    ``kill: n3`` is read as ``kill: {node: n3}`` when ``shorthand="node"``.
    """

    fields: tuple[Field, ...]
    shorthand: str | None = None

    def parse(self, node: YNode, field: str, ctx: ParseContext) -> dict[str, Any]:
        if node.value is None and not any(f.required for f in self.fields):
            return {f.name: f.default for f in self.fields}
        if self.shorthand and not node.is_mapping:
            target = self.by_name[self.shorthand]
            values = {self.shorthand: target.kind.parse(node, field, ctx)}
            for other in self.fields:
                if other.name == self.shorthand:
                    continue
                if other.required:
                    raise node.error(
                        f"needs {other.name!r}; write the mapping form", field=field,
                        hint=f"{{{self.shorthand}: {node.value}, {other.name}: ...}}",
                    )
                values[other.name] = other.default
            return values
        if not node.is_mapping:
            raise node.error(f"expected a mapping, got {_show(node)}", field=field)
        return parse_mapping(node, self.fields, field, ctx)

    @property
    def by_name(self) -> dict[str, Field]:
        return {f.name: f for f in self.fields}

    def describe(self) -> str:
        return "mapping"

    def json_schema(self, ctx: ParseContext) -> dict[str, Any]:
        required = [f.name for f in self.fields if f.required]
        mapping: dict[str, Any] = {
            # Nothing at all (``heal:``) means every default, when none is required.
            "type": "object" if required else ["object", "null"],
            "properties": {f.name: f.json_schema(ctx) for f in self.fields},
            "additionalProperties": False,
        }
        if required:
            mapping["required"] = required
        if self.shorthand and not any(f.required for f in self.fields
                                      if f.name != self.shorthand):
            # ``kill: n3``: a value that is not a mapping fills the shorthand's field.
            return {"anyOf": [mapping, self.by_name[self.shorthand].kind.json_schema(ctx)]}
        return mapping


def parse_mapping(
    node: YNode, fields: Sequence[Field], where: str, ctx: ParseContext
) -> dict[str, Any]:
    """Read a mapping against ``fields``: unknown keys get a did-you-mean."""
    known = {f.name: f for f in fields}
    values: dict[str, Any] = {}
    for key, child in node.value.items():
        if key not in known:
            raise node.error(
                f"unknown key {key!r}",
                field=_join(where, key),
                line=node.key_lines.get(key),
                hint=_suggest(key, known) or f"allowed keys: {', '.join(known)}",
            )
        values[key] = known[key].kind.parse(child, _join(where, key), ctx)
    for f in fields:
        if f.name not in values:
            if f.required:
                raise node.error(
                    f"missing required key {f.name!r}", field=where or None,
                    hint=f"{f.name}: {f.kind.describe()} — {f.doc}",
                )
            values[f.name] = f.default
    return values


def check_keys(node: YNode, allowed: Sequence[str], where: str) -> None:
    """Refuse keys outside ``allowed`` with a did-you-mean (for hand-parsed sections)."""
    for key in node.value:
        if key not in allowed:
            raise node.error(
                f"unknown key {key!r}",
                field=_join(where, key),
                line=node.key_lines.get(key),
                hint=_suggest(key, allowed) or f"allowed keys: {', '.join(allowed)}",
            )


def suggest(word: str, choices: Sequence[str] | Mapping[str, Any]) -> str | None:
    """``did you mean 'x'?`` for the closest choice, or None."""
    return _suggest(word, choices)


def _suggest(word: str, choices: Sequence[str] | Mapping[str, Any]) -> str | None:
    close = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _show(node: YNode) -> str:
    if node.is_mapping:
        return "a mapping"
    if node.is_sequence:
        return "a list"
    if node.value is None:
        return "nothing (null)"
    return repr(node.value)


def _check_range(node: YNode, field: str, value: float, lo: float | None,
                 hi: float | None) -> None:
    if lo is not None and value < lo:
        raise node.error(f"must be at least {lo}, got {value}", field=field)
    if hi is not None and value > hi:
        raise node.error(f"must be at most {hi}, got {value}", field=field)


def _range_schema(lo: float | None, hi: float | None) -> dict[str, float]:
    bounds: dict[str, float] = {}
    if lo is not None:
        bounds["minimum"] = lo
    if hi is not None:
        bounds["maximum"] = hi
    return bounds


def _plain(value: Any) -> Any:
    """``value`` as JSON data (tuples as lists), or None if it is not plain data."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, tuple | list):
        items = [_plain(v) for v in value]
        return None if any(i is None for i in items) else items
    if isinstance(value, Mapping):
        entries = {str(k): _plain(v) for k, v in value.items()}
        return None if any(v is None for v in entries.values()) else entries
    return None


def _range_text(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f" ({lo}..{hi})"
    if lo is not None:
        return f" (≥ {lo})"
    if hi is not None:
        return f" (≤ {hi})"
    return ""
