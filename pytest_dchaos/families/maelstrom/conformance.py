"""What a node of Maelstrom's small workloads must answer, for ``dchaos conform``.

``echo`` comes back with its text; ``generate`` on every node, twice, gives ids all
different; a counter's ``add`` is then seen by the node's own ``read``, and every node
answers ``read`` with an integer. The shapes are Maelstrom's (docs/maelstrom.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from pytest_dchaos.families.conformance import (
    Check,
    Conformance,
    Outcome,
    Session,
    failed,
    field_problems,
    is_int,
    judge,
    judge_all,
    passed,
    read_back,
)
from pytest_dchaos.families.maelstrom.checks.unique_ids import id_key

CONTRACT = "docs/maelstrom.md#workloads"
#: A text no node could answer without reading the request.
ECHO = "dchaos conform echo 4711"
#: A delta no node starts from, so a read that holds it heard this add.
DELTA = 4


def counter_problems(body: Mapping[str, Any]) -> list[str]:
    return field_problems(body, "value", is_int, "an integer")


class EchoConformance(Conformance):
    nodes: ClassVar[int] = 1

    def checks(self) -> Sequence[Check]:
        return (Check("echo", CONTRACT, self.echo),)

    def echo(self, session: Session) -> Outcome:
        exchange = session.ask(session.node_ids[0], {"type": "echo", "echo": ECHO})
        outcome = judge(exchange, "echo_ok")
        if outcome.status == "PASS" and exchange.reply is not None and \
                exchange.reply.get("echo") != ECHO:
            return failed(f"{exchange.node}'s echo_ok carries {exchange.reply.get('echo')!r} "
                          f"in 'echo', not the text sent, {ECHO!r}", exchange)
        return outcome


class UniqueIdsConformance(Conformance):
    def checks(self) -> Sequence[Check]:
        return (Check("generate", CONTRACT, self.generate),)

    def generate(self, session: Session) -> Outcome:
        exchanges = [*session.ask_all({"type": "generate"}),
                     *session.ask_all({"type": "generate"})]
        outcome = judge_all(exchanges, "generate_ok",
                            lambda body: [] if "id" in body else ["no field 'id'"])
        if outcome.status != "PASS":
            return outcome
        seen: dict[str, str] = {}
        for exchange in exchanges:
            assert exchange.reply is not None  # judged above
            key = id_key(exchange.reply["id"])
            if key in seen:
                return failed(f"{exchange.node} handed out id {exchange.reply['id']!r}, as "
                              f"{seen[key]} had", exchange)
            seen[key] = exchange.node
        return passed(f"{len(exchanges)} ids from {len(session.node_ids)} nodes, all "
                      "different")


class CounterConformance(Conformance):
    def checks(self) -> Sequence[Check]:
        return (Check("add", CONTRACT, self.add), Check("read", CONTRACT, self.read))

    def add(self, session: Session) -> Outcome:
        node = session.node_ids[0]
        outcome = judge(session.ask(node, {"type": "add", "delta": DELTA}), "add_ok")
        if outcome.status != "PASS":
            return outcome
        return read_back(session, node, {"type": "read"}, "read_ok", counter_problems,
                         lambda reply: reply["value"] == DELTA,
                         acknowledged=f"add_ok to add {DELTA}")

    def read(self, session: Session) -> Outcome:
        return judge_all(session.ask_all({"type": "read"}), "read_ok", counter_problems)
