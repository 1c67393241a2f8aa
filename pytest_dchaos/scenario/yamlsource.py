"""YAML as data with positions: safe loading only, and every value knows its line.

PyYAML's composer gives nodes with marks; we turn them into :class:`YNode` trees so that the
schema can say ``scenario.yaml:14: faults[2].partition.groups: ...`` about any value. Only
YAML's standard data tags are constructed: a tag that asks to build a Python object is
refused with an error, never executed.

Input is bounded before it costs anything: a file over :data:`MAX_BYTES` is refused
unread, and composing stops at :data:`_MAX_NODES` values or :data:`_MAX_DEPTH` levels, so a
wrong file (a log, a data dump) or an alias bomb is refused in about a second, with a
message that says which it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from pytest_dchaos.errors import ScenarioError

_PLAIN_TAGS = {"tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"}
_MAX_DEPTH = 64  # far deeper than any scenario; stops self-referencing anchors
# Far more values than any scenario (they have a few dozen); stops alias bombs (billion
# laughs), and a file of nothing but values is refused in about a second.
_MAX_NODES = 20_000
#: The largest scenario file read; the shipped ones are under 2 kB. Pure-Python YAML
#: parsing costs about ten seconds and hundreds of megabytes per megabyte of input.
MAX_BYTES = 1 << 20


def check_size(size: int, path: str) -> None:
    """Refuse a scenario file of ``size`` bytes if it is over :data:`MAX_BYTES`."""
    if size > MAX_BYTES:
        raise ScenarioError(
            f"the file is {_bytes(size)}, more than the {_bytes(MAX_BYTES)} a scenario file "
            "may be", path=path,
            hint="a scenario is a few kB of YAML; is this the right file?")


def _bytes(size: int) -> str:
    if size % (1 << 20) == 0:
        return f"{size >> 20} MiB"
    if size >= 1 << 20:
        return f"{size / (1 << 20):.1f} MiB ({size} bytes)"
    return f"{size / 1024:.0f} KiB ({size} bytes)" if size >= 1024 else f"{size} bytes"


class _BoundedLoader(yaml.SafeLoader):
    """Composes at most :data:`_MAX_NODES` values, :data:`_MAX_DEPTH` deep: a huge or
    deeply nested file is refused before it costs time, memory or Python's stack."""

    def __init__(self, text: str, path: str) -> None:
        super().__init__(text)
        self.path = path
        self.values = 0
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if not self.check_event(yaml.AliasEvent):
            self.values += 1
            line = self.get_mark().line + 1  # where the reader is: near enough
            if self.values > _MAX_NODES:
                raise ScenarioError(
                    f"the file holds more than {_MAX_NODES} values, where a scenario has a "
                    "few dozen", path=self.path, line=line,
                    hint="is this the right file?")
            if self.depth > _MAX_DEPTH:
                raise ScenarioError(f"nesting is deeper than {_MAX_DEPTH} levels",
                                    path=self.path, line=line)
        self.depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


@dataclass(frozen=True, eq=False)
class YNode:
    """One YAML value and where it was written.

    ``value`` is a plain scalar (str, int, float, bool, None), a ``list[YNode]`` or a
    ``dict[str, YNode]``. For mappings, ``key_lines`` gives the line of each key, which is
    where a person looks when a key is wrong.
    """

    value: Any
    line: int
    column: int
    path: str
    key_lines: dict[str, int] = field(default_factory=dict)

    @property
    def is_mapping(self) -> bool:
        return isinstance(self.value, dict)

    @property
    def is_sequence(self) -> bool:
        return isinstance(self.value, list)

    @property
    def is_scalar(self) -> bool:
        return not (self.is_mapping or self.is_sequence)

    def plain(self) -> Any:
        """The value with positions stripped, as ``yaml.safe_load`` would give it."""
        if isinstance(self.value, dict):
            return {key: child.plain() for key, child in self.value.items()}
        if isinstance(self.value, list):
            return [child.plain() for child in self.value]
        return self.value

    def error(self, message: str, *, field: str | None = None, hint: str | None = None,
              line: int | None = None) -> ScenarioError:
        """An error about this value, located at its line (or ``line``)."""
        return ScenarioError(
            message, path=self.path, line=line or self.line, field=field, hint=hint
        )


def load_yaml(text: str, path: str) -> YNode:
    """Parse one YAML document into a :class:`YNode` tree, refusing anything but data."""
    check_size(len(text.encode("utf-8")), path)
    loader = _BoundedLoader(text, path)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or str(exc)
        if exc.context_mark is not None and (mark is None or mark.line >= text.count("\n")):
            # The file ended inside something: point at where that something began.
            mark = exc.context_mark
            problem = f"{exc.context} never closed ({problem})"
        line = mark.line + 1 if mark else None
        raise ScenarioError(
            f"not valid YAML: {problem}", path=path, line=line,
            hint="check indentation and quoting around this line",
        ) from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"not valid YAML: {exc}", path=path) from None
    finally:
        loader.dispose()
    if root is None:
        raise ScenarioError(
            "the file is empty", path=path, line=1,
            hint="a scenario needs at least name, protocol and cluster",
        )
    return _convert(root, path, yaml.SafeLoader(""), depth=0, budget=[_MAX_NODES])


def _convert(node: yaml.Node, path: str, constructor: yaml.SafeLoader, depth: int,
             budget: list[int]) -> YNode:
    line, column = node.start_mark.line + 1, node.start_mark.column + 1
    if depth > _MAX_DEPTH:
        raise ScenarioError(
            "nesting is too deep (recursive anchors?)", path=path, line=line
        )
    budget[0] -= 1
    if budget[0] < 0:
        raise ScenarioError(
            f"aliases expand the document to more than {_MAX_NODES} values (an alias "
            "repeats everything under its anchor, and aliases inside anchors multiply)",
            path=path, line=line, hint="write the values out, or use fewer aliases")
    if isinstance(node, yaml.MappingNode | yaml.SequenceNode) and node.tag not in _PLAIN_TAGS:
        raise _refused_tag(node, path)
    if isinstance(node, yaml.MappingNode):
        own = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
        constructor.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
        merged = len(node.value) - own  # flatten_mapping puts merged pairs first
        children: dict[str, YNode] = {}
        key_lines: dict[str, int] = {}
        for index, (key_node, value_node) in enumerate(node.value):
            key = _scalar(key_node, path, constructor)
            key_line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise ScenarioError(
                    f"keys must be text, got {key!r}", path=path, line=key_line,
                    hint=f'quote it: "{key}"',
                )
            if key in children and index >= merged and key_lines[key] < 0:
                pass  # an explicit key overrides one merged from an anchor, as YAML says
            elif key in children and index < merged:
                continue  # of two merged anchors, the first one wins
            elif key in children:
                raise ScenarioError(
                    f"key {key!r} appears twice (first on line {key_lines[key]})",
                    path=path, line=key_line, hint="keep one of them",
                )
            children[key] = _convert(value_node, path, constructor, depth + 1, budget)
            # Merged keys are remembered with a negative line until overridden.
            key_lines[key] = -key_line if index < merged else key_line
        return YNode(children, line, column, path,
                     {key: abs(number) for key, number in key_lines.items()})
    if isinstance(node, yaml.SequenceNode):
        items = [_convert(child, path, constructor, depth + 1, budget)
                 for child in node.value]
        return YNode(items, line, column, path)
    return YNode(_scalar(node, path, constructor), line, column, path)


def _scalar(node: yaml.Node, path: str, constructor: yaml.SafeLoader) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise ScenarioError(
            "a mapping key must be a plain value", path=path, line=node.start_mark.line + 1
        )
    try:
        return constructor.construct_object(node, deep=True)
    except yaml.constructor.ConstructorError:
        raise _refused_tag(node, path) from None


def _refused_tag(node: yaml.Node, path: str) -> ScenarioError:
    return ScenarioError(
        f"YAML tag {node.tag!r} is not allowed",
        path=path,
        line=node.start_mark.line + 1,
        hint="scenario files are data, never Python objects: remove the tag",
    )
