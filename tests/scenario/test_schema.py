"""The option kinds' JSON Schema fragments, where the scenario schema does not show them."""

from __future__ import annotations

import pytest

from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.yamlsource import YNode


class Percent(s.Kind):
    """A third party's kind that says nothing of JSON Schema."""

    def parse(self, node: YNode, field: str, ctx: s.ParseContext) -> float:
        return float(node.value)

    def describe(self) -> str:
        return "percentage"


def test_a_kind_that_says_no_schema_leaves_its_values_to_the_loader() -> None:
    assert Percent().json_schema(s.ParseContext()) == {}
    custom = s.Custom(lambda node, field, ctx: node.value, "anything")
    assert custom.json_schema(s.ParseContext()) == {}
    field = s.Field("share", Percent(), "how much", 50)
    assert field.json_schema(s.ParseContext()) == {
        "description": "how much — percentage", "default": 50}


def test_node_refs_offer_leader_only_where_a_node_leads() -> None:
    ref = s.NodeRef()
    plain = ref.json_schema(s.ParseContext())
    leads = ref.json_schema(s.ParseContext(leader_role="the primary"))
    assert plain["anyOf"][1] == {"enum": ["random"]}
    assert leads["anyOf"][1] == {"enum": ["random", "leader"]}
    assert s.NodeRef(()).json_schema(s.ParseContext()) == {
        "type": "string", "pattern": s.NODE_ID_PATTERN}
    # Where the nodes are known, they are the choices.
    assert ref.json_schema(s.ParseContext(nodes=("n1", "n2"))) == {
        "enum": ["n1", "n2", "random"]}


@pytest.mark.parametrize(("kind", "default", "shown"), [
    (s.Duration(), 10.0, "10s"),
    (s.Duration(), 0.25, "250ms"),
    (s.Duration(), 0.0, "0ms"),
    (s.Duration(), 90.0, "90s"),
    (s.Duration(), 0.0005, "0.5ms"),
    (s.Rate(), 10.0, "10/s"),
    (s.ListOf(s.Str()), (), []),
    (s.Str(("a", "b")), "a", "a"),
])
def test_defaults_are_shown_as_a_scenario_writes_them(kind: s.Kind, default: object,
                                                      shown: object) -> None:
    assert kind.json_default(default) == shown


def test_a_shorthand_is_offered_only_when_the_other_options_have_defaults() -> None:
    easy = s.Struct((s.Field("node", s.Str(), "which"), s.Field("n", s.Int(), "how many", 1)),
                    shorthand="node")
    hard = s.Struct((s.Field("node", s.Str(), "which"), s.Field("n", s.Int(), "how many")),
                    shorthand="node")
    assert easy.json_schema(s.ParseContext())["anyOf"][1] == {"type": "string"}
    assert "anyOf" not in hard.json_schema(s.ParseContext())
