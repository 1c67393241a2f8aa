"""``msgs_per_op``: network messages per client operation stay within a budget."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.record.stats import msgs_per_op
from pytest_dchaos.scenario import schema as s


@dataclass(frozen=True)
class MsgsPerOpOptions:
    max: float
    #: servers | clients | all
    of: str


class MsgsPerOp(CheckerType[MsgsPerOpOptions]):
    name = "msgs_per_op"
    performance = True
    doc = ("Messages per client operation (as Maelstrom counts them: every message a node "
           "sends) is at most `max`; `of` picks servers (node-to-node, the default), clients "
           "or all.")
    blind_to = ("Which messages served which operation: it divides every message sent by the "
                "number of operations, so background traffic (heartbeats, anti-entropy) counts "
                "against a quiet workload.")
    options = s.Struct((
        s.Field("max", s.Float(min=0), "the budget"),
        s.Field("of", s.Str(("servers", "clients", "all")), "which messages count", "servers"),
    ), shorthand="max")
    options_type = MsgsPerOpOptions

    def check(self, options: MsgsPerOpOptions, record: RunRecord) -> Verdict:
        if not record.messages:
            return self.verdict(False, "the message trace was not counted, so there is no "
                                "messages-per-operation figure to judge")
        figures = msgs_per_op(record.messages, record.history)
        value = figures[options.of]
        if value is None:
            return self.verdict(False, "no client operation was invoked, so there is no "
                                "messages-per-operation figure to judge")
        passed = value <= options.max
        top = list(record.messages.get("by_type", {}).items())[:5]
        breakdown = ", ".join(f"{t} {n}" for t, n in top)
        detail = (f"{value:.2f} {options.of} messages per operation "
                  f"({'within' if passed else 'over'} the budget of {options.max:g})")
        if not passed and breakdown:
            detail += f"; most sent: {breakdown}"
        return self.verdict(passed, detail, witness={"by_type": dict(top)},
                            figures=figures)
