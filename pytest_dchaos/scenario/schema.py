"""A small schema language for scenario sections, fault options and check options.

Each option is a :class:`Field` with a :class:`Kind` that parses a :class:`YNode` into a
plain, validated Python value, or raises a :class:`ScenarioError` located at the node's line.
Faults, checks and protocol families declare their options with these, so the loader
validates them all the same way and the reference documentation is generated from the same
declarations (``dchaos catalogue``) instead of being written twice.
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


class Kind:
    """How one value is read. Subclasses implement :meth:`parse` and :meth:`describe`."""

    def parse(self, node: YNode, field: str, ctx: ParseContext) -> Any:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


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


class Duration(Kind):
    """A duration with a unit, read as seconds."""

    def parse(self, node: YNode, field: str, ctx: ParseContext) -> float:
        try:
            return units.parse_duration(node.value)
        except units.UnitError as exc:
            raise node.error(str(exc), field=field) from None

    def describe(self) -> str:
        return "duration (250ms, 2s, 1m)"


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


class Size(Kind):
    def parse(self, node: YNode, field: str, ctx: ParseContext) -> int:
        try:
            return units.parse_size(node.value)
        except units.UnitError as exc:
            raise node.error(str(exc), field=field) from None

    def describe(self) -> str:
        return "size (512, 64KiB, 10MB)"


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


class Custom(Kind):
    """A kind defined by a function, for the few shapes the kinds above cannot say."""

    def __init__(self, parse: Callable[[YNode, str, ParseContext], Any], description: str):
        self._parse, self._description = parse, description

    def parse(self, node: YNode, field: str, ctx: ParseContext) -> Any:
        return self._parse(node, field, ctx)

    def describe(self) -> str:
        return self._description


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


def _range_text(lo: float | None, hi: float | None) -> str:
    if lo is not None and hi is not None:
        return f" ({lo}..{hi})"
    if lo is not None:
        return f" (≥ {lo})"
    if hi is not None:
        return f" (≤ {hi})"
    return ""
