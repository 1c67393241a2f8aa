"""What a gossip node must answer: Maelstrom's broadcast workload, plus ``members``.

``topology`` on every node, a ``broadcast`` whose value the node then reads back, and
``read`` on every node, in the shapes docs/nodes/gossip.md gives; ``members`` and
``dchaos_state`` for nodes that list them in ``init_ok``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pytest_dchaos.families.conformance import (
    Check,
    Conformance,
    Extension,
    Outcome,
    Session,
    field_problems,
    is_int,
    judge,
    judge_all,
    list_of,
    map_of,
    one_of,
    read_back,
    state_extension,
)
from pytest_dchaos.families.gossip import topology as topologies

CONTRACT = "docs/nodes/gossip.md#from-clients-the-contract"
MEMBERS = "docs/node-contract.md#gossip-maelstroms-broadcast-workload-plus-membership"
STATUSES = ("alive", "suspect", "dead")
#: The value broadcast: the nodes start empty, so a read that holds it heard this broadcast.
VALUE = 424242


def read_problems(body: Mapping[str, Any]) -> list[str]:
    return field_problems(body, "messages", list_of(is_int), "a list of integers")


def members_problems(body: Mapping[str, Any], node_ids: tuple[str, ...]) -> list[str]:
    found = field_problems(body, "members", map_of(one_of(*STATUSES), node_ids),
                           "an object of node id → alive | suspect | dead")
    found += field_problems(body, "incarnation", map_of(is_int, node_ids),
                            "an object of node id → integer")
    members = body.get("members")
    if not found and isinstance(members, dict):
        missing = [n for n in node_ids if n not in members]
        if missing:
            found.append(f"'members' leaves out {', '.join(missing)} (every node, this "
                         "one included)")
    return found


def state_problems(body: Mapping[str, Any], node_ids: tuple[str, ...]) -> list[str]:
    """No check reads a gossip node's state yet: fields the reference node reports must
    have its shapes when present."""
    found = field_problems(body, "members", map_of(one_of(*STATUSES), node_ids),
                           "an object of node id → alive | suspect | dead", optional=True)
    return found + field_problems(body, "messages", list_of(is_int), "a list of integers",
                                  optional=True)


class GossipConformance(Conformance):
    def checks(self) -> Sequence[Check]:
        return (Check("topology", CONTRACT, self.topology),
                Check("broadcast", CONTRACT, self.broadcast),
                Check("read", CONTRACT, self.read))

    def extensions(self) -> Mapping[str, Extension]:
        return {
            "members": Extension({"type": "members"}, "members_ok", members_problems, MEMBERS),
            "dchaos_state": state_extension(state_problems, CONTRACT),
        }

    def topology(self, session: Session) -> Outcome:
        # The harness's default layout (a scenario without cluster.topology).
        body = {"type": "topology", "topology": topologies.build("grid", session.node_ids)}
        return judge_all(session.ask_all(body), "topology_ok")

    def broadcast(self, session: Session) -> Outcome:
        node = session.node_ids[0]
        outcome = judge(session.ask(node, {"type": "broadcast", "message": VALUE}),
                        "broadcast_ok")
        if outcome.status != "PASS":
            return outcome
        return read_back(session, node, {"type": "read"}, "read_ok", read_problems,
                         lambda reply: VALUE in reply["messages"],
                         acknowledged=f"broadcast_ok to {VALUE}")

    def read(self, session: Session) -> Outcome:
        return judge_all(session.ask_all({"type": "read"}), "read_ok", read_problems)
