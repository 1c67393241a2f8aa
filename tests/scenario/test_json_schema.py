"""The JSON Schema of scenario files: the shipped copy is current, every scenario the
project ships validates against it, and what the loader refuses it refuses too, where a
schema can say so."""

from __future__ import annotations

import importlib
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pytest_dchaos.errors import ScenarioError
from pytest_dchaos.registry import Registry, register, unregister
from pytest_dchaos.scenario import parse_scenario
from pytest_dchaos.scenario.json_schema import (
    REGENERATE,
    SHIPPED,
    scenario_schema,
    schema_text,
)
from tests.builders import registry

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
FENCE = re.compile(r"^```yaml\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def validator(schema: dict[str, Any] | None = None) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema or scenario_schema(registry()))


def errors(document: Any, schema: dict[str, Any] | None = None) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}"
            for e in validator(schema).iter_errors(document)]


def test_the_shipped_schema_is_what_dchaos_schema_makes_now() -> None:
    assert SHIPPED.read_text(encoding="utf-8") == schema_text(Registry()), (
        f"{SHIPPED.name} is stale: run `{REGENERATE}`")


def test_it_is_a_draft_2020_12_schema() -> None:
    schema = scenario_schema(registry())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_every_default_it_shows_is_valid_where_it_is_shown() -> None:
    # A default is shown as a scenario would write it (10s, 10/s): an editor that inserts
    # it must insert something the loader takes.
    schema = scenario_schema(registry())
    shown = list(_with_defaults(schema))
    assert len(shown) > 40
    for where, fragment in shown:
        rest = {k: v for k, v in fragment.items() if k != "default"}
        found = errors(fragment["default"], {"$defs": schema["$defs"], **rest})
        assert not found, f"{where}: default {fragment['default']!r}: {found}"


def _with_defaults(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        if "default" in node:
            yield where, node
        for key, value in node.items():
            yield from _with_defaults(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _with_defaults(value, f"{where}/{index}")


SHIPPED_SCENARIOS = sorted(p for pattern in ("*.yaml", "*.yml")
                           for p in (ROOT / "scenarios").rglob(pattern))


def test_the_scenario_library_is_there() -> None:
    assert len(SHIPPED_SCENARIOS) > 30


@pytest.mark.parametrize("path", SHIPPED_SCENARIOS,
                         ids=[str(p.relative_to(ROOT)) for p in SHIPPED_SCENARIOS])
def test_every_shipped_scenario_validates(path: Path) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert not errors(document), errors(document)


@pytest.fixture
def with_gcounter(monkeypatch: pytest.MonkeyPatch) -> Iterator[Registry]:
    """The example family of docs/architecture.md, registered for one test."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    family = importlib.import_module("gcounter_dchaos.family")
    register(family)
    try:
        yield Registry()
    finally:
        unregister(family)


def test_the_examples_scenarios_validate_with_their_family_installed(
        with_gcounter: Registry) -> None:
    schema = scenario_schema(with_gcounter)
    assert "gcounter" in schema["properties"]["protocol"]["enum"]
    examples = sorted(EXAMPLES.rglob("scenarios/*.yaml"))
    assert examples
    for path in examples:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert not errors(document, schema), (path, errors(document, schema))
    # ... and a check of another protocol is refused for it.
    document = yaml.safe_load(examples[0].read_text(encoding="utf-8"))
    document["checks"] = ["agreement"]
    assert errors(document, schema)


def doc_blocks() -> list[tuple[str, Any]]:
    """Every YAML block of README.md and docs/ that is a mapping (not the CI workflow)."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for index, block in enumerate(FENCE.findall(path.read_text(encoding="utf-8"))):
            document = yaml.safe_load(block)
            if isinstance(document, dict) and "jobs" not in document:
                found.append((f"{path.relative_to(ROOT)}#{index}", document))
    return found


DOC_BLOCKS = doc_blocks()
#: What a fragment of a scenario (only its faults, only its checks) is put into.
BASE = {"name": "fragment", "cluster": {"nodes": 5}, "workload": {"duration": "60s"}}


@pytest.mark.parametrize(("where", "document"), DOC_BLOCKS, ids=[w for w, _ in DOC_BLOCKS])
def test_every_scenario_in_the_docs_validates(where: str, document: dict[str, Any],
                                              with_gcounter: Registry) -> None:
    schema = scenario_schema(with_gcounter)
    if "protocol" in document:
        assert not errors(document, schema), errors(document, schema)
        return
    # A fragment: it must be valid for some protocol (a check belongs to one).
    protocols = schema["properties"]["protocol"]["enum"]
    found = {p: errors({**BASE, "protocol": p, **document}, schema) for p in protocols}
    assert any(not e for e in found.values()), found


def test_the_docs_show_scenarios_and_fragments() -> None:
    assert sum("protocol" in d for _, d in DOC_BLOCKS) >= 3
    assert any(set(d) == {"faults"} for _, d in DOC_BLOCKS)


HEAD = """\
name: demo
protocol: {protocol}
cluster: {{nodes: 4}}
workload: {{duration: 20s}}
"""

# Each is refused by the loader, with the reason given; the schema must refuse it too.
REFUSED = [
    ("unknown section", "gossip", "sede: 3\n"),
    ("unknown workload key", "gossip", "workload: {duraton: 5s}\n"),
    ("unknown option of a check", "gossip", "checks: [{convergence: {whithin: 5s}}]\n"),
    ("wrong type", "gossip", "cluster: {nodes: three}\n"),
    ("wrong type of a fault option", "gossip",
     "faults: [{at: 1s, message: {drop: lots}}]\n"),
    ("out of range", "gossip", "faults: [{at: 1s, message: {drop: 1.5}}]\n"),
    ("unknown fault kind", "gossip", "faults: [{at: 1s, partiton: {isolate: n1}}]\n"),
    ("bad duration", "gossip", "faults: [{at: 1x, kill: n1}]\n"),
    ("duration without a unit", "gossip", "network: {latency: 100}\n"),
    ("rate without a unit", "gossip", "workload: {rate: 100}\n"),
    ("zero rate", "gossip", "workload: {rate: 0/s}\n"),
    ("two faults in one entry", "gossip", "faults: [{at: 1s, kill: n1, pause: n2}]\n"),
    ("no fault in an entry", "gossip", "faults: [{at: 1s, duration: 2s}]\n"),
    ("no at", "gossip", "faults: [{kill: n1}]\n"),
    ("times without every", "gossip", "faults: [{at: 1s, kill: n1, times: 3}]\n"),
    ("duration of a fault that cannot be undone", "gossip",
     "faults: [{at: 1s, heal: all, duration: 2s}]\n"),
    ("duration of a one_of that may draw one", "gossip",
     "faults: [{at: 1s, one_of: [{kill: n1}, {restart: n2}], duration: 2s}]\n"),
    ("two faults in a choice", "gossip",
     "faults: [{at: 1s, one_of: [{kill: n1, pause: n2}]}]\n"),
    ("three times between", "gossip", "faults: [{at: {between: [1s, 2s, 3s]}, kill: n1}]\n"),
    ("leader where no node leads", "gossip", "faults: [{at: 1s, kill: leader}]\n"),
    ("not a node id", "gossip", "faults: [{at: 1s, kill: node1}]\n"),
    ("a check of another protocol", "gossip", "checks: [agreement]\n"),
    ("a check of another protocol with a leader", "txn", "checks: [agreement]\n"),
    ("an unknown check", "pbft", "checks: [agreemnt]\n"),
    ("a check that needs options, bare", "gossip", "checks: [msgs_per_op]\n"),
    ("expect is pass or fail", "txn", "checks: [{atomicity: {expect: maybe}}]\n"),
    ("unknown topology", "gossip", "cluster: {nodes: 4, topology: mesh}\n"),
    ("twins where they make no sense", "gossip",
     "cluster: {nodes: 4, twins: [{node: n1, sees: [n2]}]}\n"),
    ("unknown protocol", "raft", ""),
    ("a bad link", "pbft", "network: {links: [{links: [n1=>n2], latency: 5ms}]}\n"),
    ("an implementation that is neither", "gossip",
     "cluster: {nodes: 4, implementation: mine}\n"),
    ("negative seed", "gossip", "seed: -1\n"),
]


def _document(protocol: str, extra: str) -> tuple[str, dict[str, Any]]:
    text = HEAD.format(protocol=protocol)
    document = yaml.safe_load(text)
    document.update(yaml.safe_load(textwrap.dedent(extra)) or {})
    return yaml.safe_dump(document, sort_keys=False), document


@pytest.mark.parametrize(("what", "protocol", "extra"), REFUSED, ids=[r[0] for r in REFUSED])
def test_what_the_loader_refuses_the_schema_refuses(what: str, protocol: str,
                                                    extra: str) -> None:
    text, document = _document(protocol, extra)
    with pytest.raises(ScenarioError):
        parse_scenario(text, "bad.yaml", registry())
    assert errors(document), f"the schema accepts what the loader refuses ({what}):\n{text}"


# Forms the loader takes, some of them shorthands: the schema must not refuse them.
ACCEPTED = [
    ("check shorthands", "gossip",
     "checks: [{convergence: 5s}, no_invented_values, {rejoin: {expect: fail}},\n"
     "         {failure_detection: {within: 3s, required: true}}]\n"),
    ("a check with nothing", "gossip", "checks: [{no_invented_values: null}]\n"),
    ("heal with nothing", "gossip", "faults: [{at: 1s, heal: null}]\n"),
    ("node lists", "gossip", "faults: [{at: 1s, kill: [n1, random], duration: 2s}]\n"),
    ("partition forms", "gossip", """\
        faults:
          - {at: 1s, partition: majority_minority, duration: 1s}
          - {at: 3s, partition: {groups: [[n1, n2], [n3, n4]]}, duration: 1s}
          - {at: 5s, partition: {isolate: n3}, duration: 1s}
          - {at: 7s, partition: {from: [n1], to: n2}, duration: 1s}
        """),
    ("leader where a node leads", "pbft",
     "faults: [{at: 1s, kill: leader, duration: 2s}, {at: 4s, partition: {isolate: leader}}]\n"),
    ("repeats", "gossip",
     "faults: [{at: {between: [1s, 2s]}, every: 5s, times: 3, pause: random, duration: 1s}]\n"),
    ("one_of", "gossip",
     "faults: [{at: 1s, every: 4s, until: 15s, one_of: [{kill: random}, {pause: n1}],"
     " duration: 2s}]\n"),
    ("units in any case", "gossip",
     "network: {latency: 5MS, jitter: 500us}\nworkload: {duration: 0.3m, rate: 30/min}\n"),
    ("links", "gossip", """\
        network:
          latency: 5ms
          links:
            - {links: n1->n2, latency: 50ms}
            - {links: [n1<->n3, n2 -> n4], latency: 20ms, jitter: 1ms}
            - {links: {from: [n1], to: n4}, latency: 10ms}
            - {links: all, latency: 6ms}
        """),
    ("message and toxic faults", "gossip", """\
        faults:
          - {at: 1s, message: {drop: 0.2, types: gossip, links: [n1->n2]}, duration: 2s}
          - {at: 4s, toxic: {type: bandwidth, attributes: {rate: 1}, links: all}}
        """),
    ("own implementations", "gossip",
     "cluster: {nodes: 4, implementation: {command: [python3, node.py, 3]}}\n"),
    ("an image", "gossip",
     "cluster: {nodes: 4, implementation: {image: my/node, command: /bin/node}}\n"),
    ("twins and topology", "pbft",
     "cluster: {nodes: 4, twins: [{node: n1, sees: n3}], params: {batch_size: 2}}\n"),
    ("a null section", "gossip", "network: null\nworkload: null\nfaults: null\n"),
]


@pytest.mark.parametrize(("what", "protocol", "extra"), ACCEPTED, ids=[r[0] for r in ACCEPTED])
def test_what_the_loader_takes_the_schema_takes(what: str, protocol: str, extra: str) -> None:
    text, document = _document(protocol, extra)
    parse_scenario(text, "good.yaml", registry())
    assert not errors(document), errors(document)


def test_per_protocol_fields_are_chosen_by_protocol() -> None:
    schema = scenario_schema(registry())
    defs = schema["$defs"]
    assert set(defs["txn.workload"]["properties"]) >= {"keys", "min_ops", "max_ops"}
    assert "keys" not in defs["gossip.workload"]["properties"]
    txn_checks = defs["txn.checks"]["items"]["anyOf"][1]["properties"]
    assert "atomicity" in txn_checks and "agreement" not in txn_checks
    # Help texts come from the declarations.
    within = defs["check.convergence"]["anyOf"][0]["properties"]["within"]
    assert within["description"].startswith("time allowed after the heal")
    assert defs["gossip.workload"]["properties"]["clients"]["default"] == 1


def test_the_cross_field_rules_are_the_loaders() -> None:
    # These pass the schema (it cannot see the cluster's size or compare two fields), and
    # the loader refuses them: the docs say so.
    for extra in ("faults: [{at: 1s, kill: n9}]\n",
                  "network: {latency: 1ms, jitter: 5ms}\n",
                  "faults: [{at: 30s, kill: n1}]\n"):
        text, document = _document("gossip", extra)
        assert not errors(document)
        with pytest.raises(ScenarioError):
            parse_scenario(text, "bad.yaml", registry())
