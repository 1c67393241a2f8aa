"""The ``message`` fault: what a scenario entry becomes (agent rules, effect, nodes), and
the entries it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_dchaos.errors import ScenarioError
from pytest_dchaos.families.pbft.family import Pbft, scheduled_byzantine
from pytest_dchaos.faults.messages import Message, MessageOptions
from pytest_dchaos.run.nemesis import expand
from tests.builders import registry, scenario

PBFT = "name: r\nprotocol: pbft\ncluster: {nodes: 4}\nworkload: {duration: 10s}\nfaults:\n"


def options(fault: str, head: str = PBFT) -> MessageOptions:
    entry = scenario(head + f"  - {{at: 1s, message: {fault}}}\n").faults[0]
    assert isinstance(entry.options, MessageOptions)
    return entry.options


def test_mutate_and_replay_make_the_senders_byzantine_and_reach_their_agents() -> None:
    opts = options("{mutate: 0.3, fields: [view, seq], replay: 0.1, types: pbft_prepare, "
                   "links: [n1->n2, n1->n3]}")
    fault = Message()
    assert fault.effect_of(opts) == "byzantine"
    assert fault.nodes(opts) == ("n1",)  # the receivers are honest
    rules = opts.rules()
    assert list(rules) == ["n1"]
    [rule] = rules["n1"]
    assert rule["mutate"] == 0.3 and rule["replay"] == 0.1
    assert rule["fields"] == ["view", "seq"] and rule["types"] == ["pbft_prepare"]
    assert rule["dests"] == ["n2", "n3"]
    assert fault.describe(opts) == ("messages of pbft_prepare from n1: mutate 30% of view,seq, "
                                    "replay 10% on 2 links")


def test_network_message_faults_keep_their_effect_and_nodes() -> None:
    opts = options("{drop: 0.2, links: [n1->n2]}")
    assert Message().effect_of(opts) == "lossy"
    assert Message().nodes(opts) == ("n1", "n2")
    assert opts.rules()["n1"][0]["mutate"] == 0.0


@pytest.mark.parametrize(("fault", "message"), [
    ("{types: [x]}", "does nothing: set drop, duplicate, reorder, delay, mutate or replay"),
    ("{mutate: 0.5, drop: 0.1}", "mutate make the senders Byzantine, drop make the links "
     "unreliable: write them as two faults"),
    ("{replay: 0.5, delay: 10ms}", "replay make the senders Byzantine, delay make"),
    ("{replay: 0.5, fields: [view]}", "fields says which fields mutate may change: set mutate"),
    ("{mutate: 1.5}", "faults[0].message.mutate"),
])
def test_entries_that_mean_nothing_or_two_things_are_refused(fault: str, message: str) -> None:
    with pytest.raises(ScenarioError) as info:
        options(fault)
    assert message in str(info.value)


def firings(faults: list[str]) -> list[Any]:
    text = PBFT + "".join(f"  - {f}\n" for f in faults)
    return expand(scenario(text), registry().faults, seed=1)


def test_a_mutating_sender_counts_against_pbfts_f() -> None:
    mutating = "{at: 1s, message: {mutate: 0.5, links: [n2->n1, n2->n3]}}"
    assert scheduled_byzantine(firings([mutating])) == {"n2"}
    assert scheduled_byzantine(firings(["{at: 1s, message: {drop: 0.5}}"])) == set()
    assert Pbft().notes(scenario(PBFT + f"  - {mutating}\n"),
                        firings([mutating])) == []
    two = [mutating, "{at: 2s, byzantine: {node: n4, behavior: silent}}"]
    [note] = Pbft().notes(scenario(PBFT + "".join(f"  - {f}\n" for f in two)), firings(two))
    assert note.startswith("bound broken: 2 Byzantine replicas (n2, n4)")
