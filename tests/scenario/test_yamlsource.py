"""YAML with positions: every value knows its line, and only data is ever constructed."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from pytest_dchaos.errors import ScenarioError
from pytest_dchaos.scenario.yamlsource import YNode, load_yaml
from tests.builders import scenario


def load(text: str) -> YNode:
    return load_yaml(textwrap.dedent(text), "scenario.yaml")


def error_of(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as info:
        load(text)
    return info.value


def test_every_value_carries_its_line_and_column() -> None:
    root = load("""\
        name: demo
        cluster:
          nodes: 3
        faults:
          - {at: 1s, kill: n1}
          - at: 2s
            pause: [n2, n3]
        """)
    assert root.is_mapping and root.line == 1
    assert root.value["name"].value == "demo"
    assert root.value["name"].line == 1
    assert root.value["cluster"].value["nodes"].line == 3
    assert root.value["cluster"].value["nodes"].column == 10
    faults = root.value["faults"]
    assert faults.is_sequence
    assert [entry.line for entry in faults.value] == [5, 6]
    pause = faults.value[1].value["pause"]
    assert [(n.value, n.line) for n in pause.value] == [("n2", 7), ("n3", 7)]
    assert root.key_lines == {"name": 1, "cluster": 2, "faults": 4}
    assert faults.value[1].key_lines == {"at": 6, "pause": 7}
    assert root.value["name"].path == "scenario.yaml"


def test_plain_strips_positions_like_safe_load() -> None:
    root = load("""\
        a: 1
        b: [x, {c: 2.5, d: null, e: true}]
        s: !!str 5
        """)
    assert root.plain() == {"a": 1, "b": ["x", {"c": 2.5, "d": None, "e": True}], "s": "5"}


def test_node_kinds() -> None:
    root = load("m: {a: 1}\ns: [1]\nv: 3\n")
    m, s, v = (root.value[k] for k in "msv")
    assert (m.is_mapping, m.is_sequence, m.is_scalar) == (True, False, False)
    assert (s.is_mapping, s.is_sequence, s.is_scalar) == (False, True, False)
    assert (v.is_mapping, v.is_sequence, v.is_scalar) == (False, False, True)


def test_node_error_is_located_at_the_value() -> None:
    root = load("a: 1\nb: 2\n")
    error = root.value["b"].error("too big", field="b", hint="make it smaller")
    assert (error.path, error.line, error.field) == ("scenario.yaml", 2, "b")
    assert str(error) == "scenario.yaml:2: b: too big (make it smaller)"
    assert root.error("x", line=7).line == 7


def test_aliases_and_merge_keys_are_resolved() -> None:
    root = load("""\
        base: &base {at: 1s, kill: n1}
        copy: *base
        merged: {<<: *base, duration: 2s}
        """)
    assert root.value["copy"].plain() == {"at": "1s", "kill": "n1"}
    assert root.value["merged"].plain() == {"at": "1s", "kill": "n1", "duration": "2s"}


@pytest.mark.parametrize(
    ("text", "line", "tag"),
    [
        ("a: 1\nb: !!python/object/apply:os.system [echo hi]\n", 2,
         "tag:yaml.org,2002:python/object/apply:os.system"),
        ("a: !!python/name:os.system\n", 1, "tag:yaml.org,2002:python/name:os.system"),
        ("a: 1\nb: 2\nc: !!python/object:collections.OrderedDict {x: 1}\n", 3,
         "tag:yaml.org,2002:python/object:collections.OrderedDict"),
        ("a:\n  b: !!python/tuple [1, 2]\n", 2, "tag:yaml.org,2002:python/tuple"),
        ("a: !!python/str x\n", 1, "tag:yaml.org,2002:python/str"),
        ("a: !!set {x, y}\n", 1, "tag:yaml.org,2002:set"),
        ("a: !custom x\n", 1, "!custom"),
    ],
    ids=["object-apply-sequence", "name-scalar", "object-mapping", "tuple-nested",
         "python-str-scalar", "set", "local-tag"],
)
def test_tags_that_build_objects_are_refused(text: str, line: int, tag: str) -> None:
    error = error_of(text)
    assert error.line == line
    assert str(error) == (
        f"scenario.yaml:{line}: YAML tag {tag!r} is not allowed "
        "(scenario files are data, never Python objects: remove the tag)"
    )


def test_refused_tag_is_never_executed(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    text = f"a: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(ScenarioError, match="is not allowed"):
        load_yaml(text, "scenario.yaml")
    assert not marker.exists()


def test_duplicate_key_names_both_lines() -> None:
    error = error_of("""\
        name: one
        protocol: gossip
        name: two
        """)
    assert error.line == 3
    assert str(error) == (
        "scenario.yaml:3: key 'name' appears twice (first on line 1) (keep one of them)"
    )


def test_duplicate_key_in_a_nested_flow_mapping() -> None:
    error = error_of("""\
        faults:
          - {at: 1s, kill: n1, at: 2s}
        """)
    assert error.line == 2
    assert "key 'at' appears twice (first on line 2)" in str(error)


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        ("a: 1\nb: c: d\n", 2, "mapping values are not allowed here"),
        ("a:\n  - x\n - y\n", 3, "expected <block end>"),
        ("a: 1\n\tb: 2\n", 2, "found character '\\t' that cannot start any token"),
        ("a: 1\nb: [x, y\nc: 3\n", 3, "expected ',' or ']'"),
        ("a: [*nope]\n", 1, "found undefined alias 'nope'"),
    ],
)
def test_syntax_errors_give_the_line(text: str, line: int, problem: str) -> None:
    error = error_of(text)
    assert error.line == line
    assert str(error).startswith(f"scenario.yaml:{line}: not valid YAML: ")
    assert problem in str(error)
    assert str(error).endswith("(check indentation and quoting around this line)")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_empty_file_is_refused(text: str) -> None:
    error = error_of(text)
    assert error.line == 1
    assert str(error) == ("scenario.yaml:1: the file is empty (a scenario needs at least "
                          "name, protocol and cluster)")


def test_non_text_keys_are_refused_with_a_quoting_hint() -> None:
    error = error_of("a: 1\n2: b\n")
    assert error.line == 2
    assert str(error) == 'scenario.yaml:2: keys must be text, got 2 (quote it: "2")'


def test_complex_keys_are_refused() -> None:
    error = error_of("? [a, b]\n: 1\n")
    assert "a mapping key must be a plain value" in str(error)


def test_self_referencing_anchor_is_refused_not_recursed() -> None:
    error = error_of("a: &a [*a]\n")
    assert "nesting is too deep" in str(error)


def test_scenario_level_tag_errors_name_the_line() -> None:
    with pytest.raises(ScenarioError) as info:
        scenario("""\
            name: x
            protocol: gossip
            cluster: {nodes: 3}
            faults: !!python/tuple [{at: 1s, kill: n1}]
            """)
    assert info.value.line == 4
    assert "YAML tag 'tag:yaml.org,2002:python/tuple' is not allowed" in str(info.value)


def test_merge_keys_are_overridden_by_explicit_keys() -> None:
    node = load_yaml("a:\n  - &f {at: 1s, kill: n1}\n  - {<<: *f, at: 2s}\n", "f.yaml")
    assert node.plain() == {"a": [{"at": "1s", "kill": "n1"}, {"at": "2s", "kill": "n1"}]}
    assert node.value["a"].value[1].key_lines["at"] == 3


def test_alias_bombs_are_refused_quickly() -> None:
    levels = ["a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    started = time.monotonic()
    with pytest.raises(ScenarioError, match="aliases expand the document to more than"):
        load_yaml("\n".join(levels) + "\n", "bomb.yaml")
    assert time.monotonic() - started < 5  # about a tenth of a second


def test_a_file_of_many_values_is_refused_without_a_word_about_aliases() -> None:
    started = time.monotonic()
    error = error_of("values: [" + "1, " * 300_000 + "1]\n")  # under the size cap
    assert time.monotonic() - started < 10  # about a second
    assert "holds more than 20000 values" in str(error) and "alias" not in str(error)
    assert error.line == 1


def test_deep_nesting_is_refused_before_python_runs_out_of_stack() -> None:
    error = error_of("deep: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nesting is deeper than 64 levels" in str(error)


def test_text_over_the_size_cap_is_refused_unparsed() -> None:
    error = error_of("description: '" + "é" * (600 * 1024) + "'\n")  # 2 bytes each
    assert str(error).startswith("scenario.yaml: the file is 1.2 MiB (")
    assert "more than the 1 MiB a scenario file may be" in str(error)
