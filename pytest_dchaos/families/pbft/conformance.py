"""What a PBFT replica must answer: client ``request`` s to every replica, each answered
with ``reply {view, timestamp, replica, result}`` by the replicas that execute it.

The kit is client ``c1`` with the keys the harness hands out (``init``'s ``dchaos.pbft``),
so its requests carry the MAC authenticator a replica checks. A request counts as answered
when f+1 replicas gave the expected result, as the harness's client accepts it; every
reply that came must be well-formed.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from pytest_dchaos.families.conformance import (
    Check,
    Conformance,
    Extension,
    Outcome,
    Session,
    failed,
    field_problems,
    is_int,
    is_object,
    is_str,
    list_of,
    passed,
    reply_problem,
    state_extension,
)
from pytest_dchaos.families.pbft.client import PbftWorkload, key_material
from pytest_dchaos.families.pbft.quorums import max_faulty

CONTRACT = "docs/nodes/pbft.md#the-contract-what-the-harness-and-the-checks-rely-on"
CLIENT = "c1"
SEED = 1


def is_committed_entry(entry: Any) -> bool:
    return (isinstance(entry, list) and len(entry) == 3 and is_int(entry[0])
            and is_str(entry[1]) and (entry[2] is None or is_object(entry[2])))


def state_problems(body: Mapping[str, Any], node_ids: tuple[str, ...]) -> list[str]:
    return (field_problems(body, "view", is_int, "an integer")
            + field_problems(body, "committed", list_of(is_committed_entry),
                             "a list of [seq, digest, op] (op an object or null)")
            + field_problems(body, "suspects", list_of(is_str), "a list of replica ids")
            + field_problems(body, "stable_checkpoint", is_int, "an integer"))


def byzantine_problems(body: Mapping[str, Any], node_ids: tuple[str, ...]) -> list[str]:
    behaviour = body.get("behavior", "honest")
    return [] if behaviour == "honest" else [
        f"'behavior' must echo the behaviour asked for ('honest'), got {behaviour!r}"]


class PbftConformance(Conformance):
    nodes = 4  # n = 3f + 1 with f = 1: the smallest cluster that tolerates a fault

    def __init__(self) -> None:
        self.client = PbftWorkload(keys=1, read_ratio=0.0, cas_ratio=0.0, retry=1.0, seed=SEED)
        self.timestamps = itertools.count(1)

    def init_extra(self, node: str, node_ids: tuple[str, ...]) -> dict[str, Any]:
        return {"pbft": key_material(SEED, node, node_ids, [CLIENT])}

    def checks(self) -> Sequence[Check]:
        return (Check("request write", CONTRACT, self.write),
                Check("request read", CONTRACT, self.read),
                Check("request cas", CONTRACT, self.cas))

    def extensions(self) -> Mapping[str, Extension]:
        return {
            "dchaos_state": state_extension(state_problems, CONTRACT),
            # "honest" is what a replica already is: asking for it changes nothing.
            "dchaos_byzantine": Extension({"type": "dchaos_byzantine", "behavior": "honest"},
                                          "dchaos_byzantine_ok", byzantine_problems, CONTRACT),
        }

    def write(self, session: Session) -> Outcome:
        return self.expect(session, "write", {"key": "conform-w", "value": 1},
                           {"type": "write_ok"})

    def read(self, session: Session) -> Outcome:
        wrote = self.expect(session, "write", {"key": "conform-r", "value": 7},
                            {"type": "write_ok"})
        if wrote.status != "PASS":
            return wrote
        read = self.expect(session, "read", {"key": "conform-r"},
                           {"type": "read_ok", "value": 7})
        if read.status != "PASS":
            return read
        missing = self.expect(session, "read", {"key": "conform-none"},
                              {"type": "error", "code": 20})
        if missing.status != "PASS":
            return missing
        return passed(f"{read.detail}; a missing key is error 20")

    def cas(self, session: Session) -> Outcome:
        wrote = self.expect(session, "write", {"key": "conform-c", "value": 1},
                            {"type": "write_ok"})
        if wrote.status != "PASS":
            return wrote
        swapped = self.expect(session, "cas", {"key": "conform-c", "from": 1, "to": 2},
                              {"type": "cas_ok"})
        if swapped.status != "PASS":
            return swapped
        refused = self.expect(session, "cas", {"key": "conform-c", "from": 1, "to": 3},
                              {"type": "error", "code": 22})
        if refused.status != "PASS":
            return refused
        return passed(f"{swapped.detail}; a cas from another value is error 22")

    def expect(self, session: Session, f: str, args: dict[str, Any],
               result: dict[str, Any]) -> Outcome:
        """Send one request to every replica; PASS when f+1 replicas answered ``result``
        and no reply was malformed."""
        value = {**args, "client": CLIENT, "timestamp": next(self.timestamps)}
        body = self.client.authenticated(self.client.request(f, value), session.node_ids)
        exchanges = session.ask_all(body)
        for exchange in exchanges:
            if exchange.reply is None:
                continue
            problem = reply_problem(exchange, "reply", reply_problems(exchange.node, value))
            if problem is not None:
                return failed(problem, exchange)
        agreeing = [e for e in exchanges if e.reply is not None
                    and _subset(result, e.reply.get("result"))]
        needed = max_faulty(len(session.node_ids)) + 1
        if len(agreeing) < needed:
            shown = next((e for e in exchanges if e.reply is not None), exchanges[0])
            answers = {e.node: e.reply.get("result") if e.reply else None for e in exchanges}
            return failed(f"{f} needs {needed} replicas answering result {result}; "
                          f"got {answers}", shown)
        return passed(f"{len(agreeing)} of {len(exchanges)} replicas answered {f} with "
                      f"{result['type']}" + (f" {result['code']}" if "code" in result else ""))


def reply_problems(replica: str, value: Mapping[str, Any]
                   ) -> Callable[[Mapping[str, Any]], list[str]]:
    """The problems of ``replica``'s ``reply`` to the request made of ``value``."""

    def problems(reply: Mapping[str, Any]) -> list[str]:
        found = field_problems(reply, "view", is_int, "an integer")
        if reply.get("timestamp") != value["timestamp"]:
            found.append(f"'timestamp' must be the request's ({value['timestamp']}), got "
                         f"{reply.get('timestamp')!r}")
        if reply.get("replica") != replica:
            found.append(f"'replica' must be the replying replica ({replica}), got "
                         f"{reply.get('replica')!r}")
        result = reply.get("result")
        if not isinstance(result, dict) or not is_str(result.get("type")):
            found.append(f"'result' must be an object with a type, got {result!r:.120}")
        return found

    return problems


def _subset(expected: Mapping[str, Any], result: Any) -> bool:
    return isinstance(result, dict) and all(result.get(k) == v for k, v in expected.items())
