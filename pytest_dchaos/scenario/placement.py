"""Placement constraints: where a scenario's nodes may run on a backend of several machines.

They are written as Docker Swarm's (``docker service create --constraint``), and a machine
must meet every one given for a node::

    cluster:
      nodes: 5
      placement:
        - {nodes: [n1, n2], constraints: ["node.labels.zone==a"]}
        - {nodes: n5, constraints: ["node.role!=manager"]}

The harness, not Swarm, chooses each node's machine from those that meet its constraints
(round robin, as it spreads unconstrained nodes over all of them) and pins the node's
service there, so a restarted node comes back where its disk is. Backends of one machine
have nowhere else to put a node and ignore placement.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

#: What a constraint may name: Swarm's node attributes and labels.
ATTRIBUTES = ("node.id", "node.hostname", "node.role", "node.labels.<name>",
              "engine.labels.<name>")
_FORM = re.compile(r"^\s*(node\.id|node\.hostname|node\.role|node\.labels\.[^\s=!]+|"
                   r"engine\.labels\.[^\s=!]+)\s*(==|!=)\s*([^\s].*?)\s*$")


@dataclass(frozen=True)
class Constraint:
    attribute: str  #: ``node.hostname``, ``node.labels.zone``...
    equal: bool     #: ``==`` (else ``!=``)
    value: str
    text: str       #: as written

    def met_by(self, facts: Mapping[str, str]) -> bool:
        """Does a machine with these attributes (``node.role`` → ``manager``...) meet it? An
        attribute the machine lacks equals nothing."""
        return (facts.get(self.attribute) == self.value) == self.equal


def parse_constraint(text: str) -> Constraint:
    """A constraint as written, or ValueError saying what is wrong."""
    match = _FORM.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a placement constraint like "
                         f"'node.labels.zone==a' (<attribute>==<value> or !=, the attribute "
                         f"one of {', '.join(ATTRIBUTES)})")
    attribute, operator, value = match.groups()
    return Constraint(attribute, operator == "==", value, text.strip())


M = TypeVar("M")


def place(nodes: Sequence[str], machines: Sequence[M], facts: Callable[[M], Mapping[str, str]],
          constraints: Mapping[str, Sequence[str]]) -> dict[str, M]:
    """Each node's machine: spread round robin over the machines that meet all of its
    constraints (over all machines for a node without any); ``facts(machine)`` gives a
    machine's attributes. Raises ValueError naming a node no machine can take."""
    turn: dict[tuple[int, ...], int] = {}
    placed: dict[str, M] = {}
    for node in nodes:
        wanted = [parse_constraint(text) for text in constraints.get(node, ())]
        fits = tuple(i for i, machine in enumerate(machines)
                     if all(c.met_by(facts(machine)) for c in wanted))
        if not fits:
            raise ValueError(f"no machine meets the placement of {node} "
                             f"({', '.join(c.text for c in wanted)})")
        at = turn.get(fits, 0)
        placed[node] = machines[fits[at % len(fits)]]
        turn[fits] = at + 1
    return placed
