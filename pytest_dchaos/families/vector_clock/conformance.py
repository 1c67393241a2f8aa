"""What a vector-clock node must answer: ``cbcast`` (whose message the node then reads
back as delivered), ``read``, ``transfer`` and ``snapshot``, in the shapes
docs/nodes/vector_clock.md gives; ``dchaos_state`` for nodes that list it."""

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
    is_object,
    is_str,
    judge,
    judge_all,
    list_of,
    map_of,
    not_applicable,
    read_back,
    state_extension,
)

CONTRACT = "docs/nodes/vector_clock.md#from-clients-the-contract"
MESSAGE = "dchaos-conform"


def is_clock(value: Any) -> bool:
    return map_of(is_int)(value)


def is_delivery(value: Any) -> bool:
    return isinstance(value, dict) and {"message", "sender", "vc"} <= set(value) \
        and is_str(value["sender"]) and is_clock(value["vc"])


def cbcast_problems(body: Mapping[str, Any]) -> list[str]:
    return field_problems(body, "vc", is_clock, "an object of node id → integer")


def read_problems(body: Mapping[str, Any]) -> list[str]:
    return field_problems(body, "delivered", list_of(is_delivery),
                          "a list of {message, sender, vc}")


def transfer_problems(body: Mapping[str, Any]) -> list[str]:
    return field_problems(body, "balance", is_int, "an integer")


def snapshot_problems(body: Mapping[str, Any]) -> list[str]:
    return field_problems(body, "id", lambda v: is_str(v) or is_int(v),
                          "a string or an integer")


def is_event(value: Any) -> bool:
    return isinstance(value, dict) and is_clock(value.get("vc")) and is_str(value.get("kind"))


def is_snapshot(value: Any) -> bool:
    return isinstance(value, dict) and "id" in value and is_object(value.get("channels", {}))


def state_problems(body: Mapping[str, Any], node_ids: tuple[str, ...]) -> list[str]:
    return (field_problems(body, "events", list_of(is_event),
                           "a list of events, each with a vc and a kind")
            + field_problems(body, "snapshots", list_of(is_snapshot),
                             "a list of snapshots, each with an id and its channels"))


class VectorClockConformance(Conformance):
    def checks(self) -> Sequence[Check]:
        return (Check("cbcast", CONTRACT, self.cbcast),
                Check("read", CONTRACT, self.read),
                Check("transfer", CONTRACT, self.transfer),
                Check("snapshot", CONTRACT, self.snapshot))

    def extensions(self) -> Mapping[str, Extension]:
        return {"dchaos_state": state_extension(state_problems, CONTRACT)}

    def cbcast(self, session: Session) -> Outcome:
        node = session.node_ids[0]
        outcome = judge(session.ask(node, {"type": "cbcast", "message": MESSAGE}),
                        "cbcast_ok", cbcast_problems)
        if outcome.status != "PASS":
            return outcome
        # Its causal past is already delivered where it was sent: it is deliverable there.
        return read_back(session, node, {"type": "read"}, "read_ok", read_problems,
                         lambda reply: any(d["message"] == MESSAGE and d["sender"] == node
                                           for d in reply["delivered"]),
                         acknowledged=f"cbcast_ok to {MESSAGE!r}")

    def read(self, session: Session) -> Outcome:
        return judge_all(session.ask_all({"type": "read"}), "read_ok", read_problems)

    def transfer(self, session: Session) -> Outcome:
        node, *others = session.node_ids
        if not others:
            return not_applicable("a transfer needs a second node (--nodes 2 or more)")
        body = {"type": "transfer", "to": others[0], "amount": 1}
        # A short balance is refused with error 22: the contract allows it.
        return judge(session.ask(node, body), "transfer_ok", transfer_problems, errors=(22,))

    def snapshot(self, session: Session) -> Outcome:
        return judge(session.ask(session.node_ids[0], {"type": "snapshot"}), "snapshot_ok",
                     snapshot_problems)
