"""What a protocol family asks of a node in a conformance check (``dchaos conform``).

The conformance kit (:mod:`pytest_dchaos.testing.conformance`) checks what every node
owes the contract — the ``init`` handshake, ``msg_id`` / ``in_reply_to`` discipline, error
bodies, unknown message types, a clean stdout, staying up — and asks the node's family,
through :meth:`ProtocolFamily.conformance <pytest_dchaos.families.base.ProtocolFamily.
conformance>`, for the rest: a :class:`Conformance` naming the family's client messages
as :class:`Check` s that talk to live nodes through a :class:`Session`, and the reply
shapes of the extension messages (:data:`EXTENSIONS`) the family sends.

A check returns an :class:`Outcome`; the kit adds the check's name and the documentation
to read, making a :class:`Finding`. Outcomes say what was sent, what came back and why it
is wrong, because the person who reads them is the node's author.
"""

from __future__ import annotations

import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol

Status = Literal["PASS", "FAIL", "N/A"]
PASS: Status = "PASS"
FAIL: Status = "FAIL"
NOT_APPLICABLE: Status = "N/A"

JSON = dict[str, Any]
POLL = 0.05


@dataclass(frozen=True)
class Outcome:
    """What one check found: its status, why, and the message that shows it."""

    status: Status
    detail: str
    sent: Mapping[str, Any] | None = None
    got: Any = None
    #: More lines to show with a failure (the last lines of a node's stderr, say).
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    """One line of a conformance report: a check, its outcome, and where to read more."""

    check: str
    status: Status
    detail: str
    doc: str
    sent: Mapping[str, Any] | None = None
    got: Any = None
    evidence: tuple[str, ...] = ()

    @classmethod
    def of(cls, check: str, doc: str, outcome: Outcome) -> Finding:
        return cls(check, outcome.status, outcome.detail, doc, outcome.sent, outcome.got,
                   outcome.evidence)

    @property
    def failed(self) -> bool:
        return self.status == FAIL

    def describe(self) -> str:
        """``STATUS  check  detail  (doc)``, and for a failure what was sent and came back."""
        lines = [f"{self.status:<4}  {self.check:<16}  {self.detail}  ({self.doc})"]
        if self.failed and self.sent is not None:
            lines.append(f"      sent: {excerpt(self.sent)}")
        if self.failed and self.got is not None:
            lines.append(f"      got:  {excerpt(self.got)}")
        if self.failed:
            lines += [f"      {line}" for line in self.evidence]
        return "\n".join(lines)


def excerpt(value: Any, limit: int = 300) -> str:
    """``value`` as compact JSON (or as text), cut to ``limit`` characters."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, separators=(",", ":"), sort_keys=True, default=repr)
        except (TypeError, ValueError):
            text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True)
class Exchange:
    """One request to one node and its reply (``None`` if none came in time)."""

    node: str
    sent: JSON
    reply: JSON | None
    seconds: float
    #: The node's exit status if its process had ended by then.
    exit_status: int | None = None

    @property
    def reply_type(self) -> str | None:
        return None if self.reply is None else self.reply.get("type")

    @property
    def error_code(self) -> Any:
        return self.reply.get("code") if self.reply is not None and \
            self.reply.get("type") == "error" else None


class Session(Protocol):
    """Live nodes, initialised, as a family's checks talk to them (as client ``c1``)."""

    @property
    def node_ids(self) -> tuple[str, ...]: ...

    @property
    def timeout(self) -> float:
        """How long to wait for any one reply (``--timeout``)."""

    def ask(self, node: str, body: Mapping[str, Any], *,
            timeout: float | None = None) -> Exchange:
        """Send ``body`` (a fresh ``msg_id`` added) and wait for its reply."""

    def ask_all(self, body: Mapping[str, Any], *,
                timeout: float | None = None) -> list[Exchange]:
        """Send ``body`` to every node at once and wait for every reply (or the timeout);
        the exchanges in node order."""


@dataclass(frozen=True)
class Check:
    """One client-message check of a family: its name, the documentation of what it
    checks (``docs/...md#section``), and the function that runs it."""

    name: str
    doc: str
    run: Callable[[Session], Outcome]


@dataclass(frozen=True)
class Extension:
    """How a family's nodes answer one extension message: the request the kit sends (it
    must change nothing), the reply type, and the problems of a reply body
    (``problems(body, node_ids)``, empty when it is well-formed)."""

    request: Mapping[str, Any]
    reply_type: str
    problems: Callable[[Mapping[str, Any], tuple[str, ...]], list[str]]
    doc: str


class Conformance(ABC):
    """A family's part of a conformance check. :meth:`ProtocolFamily.conformance` makes a
    fresh one per check, so checks may keep state (a client's timestamps) on it."""

    #: How many nodes a check starts unless told (enough for the family to work).
    nodes: ClassVar[int] = 3

    def init_extra(self, node: str, node_ids: tuple[str, ...]) -> dict[str, Any]:
        """The family's part of ``init``'s ``dchaos`` object (keys, say), as the harness
        sends it."""
        return {}

    @abstractmethod
    def checks(self) -> Sequence[Check]:
        """The family's client messages, checked in this order."""

    def extensions(self) -> Mapping[str, Extension]:
        """The extension messages (of :data:`EXTENSIONS`) this family sends a node that
        lists them, with the shape of their replies."""
        return {}


def state_extension(problems: Callable[[Mapping[str, Any], tuple[str, ...]], list[str]],
                    doc: str) -> Extension:
    """``dchaos_state`` → ``dchaos_state_ok`` whose body has no ``problems``."""
    return Extension({"type": "dchaos_state"}, "dchaos_state_ok", problems, doc)


# -- judging replies -------------------------------------------------------------------------


def passed(detail: str) -> Outcome:
    return Outcome(PASS, detail)


def failed(detail: str, exchange: Exchange | None = None) -> Outcome:
    if exchange is None:
        return Outcome(FAIL, detail)
    return Outcome(FAIL, detail, exchange.sent, exchange.reply)


def not_applicable(detail: str) -> Outcome:
    return Outcome(NOT_APPLICABLE, detail)


def no_problems(body: Mapping[str, Any]) -> list[str]:
    return []


def reply_problem(exchange: Exchange, expected: str,
                  problems: Callable[[Mapping[str, Any]], list[str]] = no_problems,
                  errors: Collection[int] = ()) -> str | None:
    """Why ``exchange``'s reply is not a well-formed ``expected`` (or an error with one of
    ``errors``), or None when it is."""
    asked = exchange.sent.get("type")
    reply = exchange.reply
    if reply is None:
        if exchange.exit_status is not None:
            return (f"{exchange.node} exited (status {exchange.exit_status}) and never "
                    f"answered {asked}")
        return f"{exchange.node} did not answer {asked} within {exchange.seconds:.1f}s"
    kind = reply.get("type")
    if kind == "error" and exchange.error_code in errors:
        return None
    allowed = expected + "".join(f" or error {c}" for c in errors)
    if kind == "error":
        return (f"{exchange.node} answered {asked} with error {reply.get('code')!r} "
                f"({excerpt(reply.get('text', ''), 120)}), expected {allowed}")
    if kind != expected:
        return f"{exchange.node} answered {asked} with {kind!r}, expected {allowed}"
    found = problems(reply)
    if found:
        return f"{exchange.node}'s {expected} is malformed: {'; '.join(found)}"
    return None


def judge(exchange: Exchange, expected: str,
          problems: Callable[[Mapping[str, Any]], list[str]] = no_problems,
          errors: Collection[int] = ()) -> Outcome:
    """PASS when the reply is a well-formed ``expected`` (or an allowed error)."""
    problem = reply_problem(exchange, expected, problems, errors)
    if problem is not None:
        return failed(problem, exchange)
    answer = exchange.reply_type if exchange.reply_type != "error" else \
        f"error {exchange.error_code}"
    return passed(f"{exchange.node} answered {answer} in {exchange.seconds * 1000:.0f} ms")


def judge_all(exchanges: Sequence[Exchange], expected: str,
              problems: Callable[[Mapping[str, Any]], list[str]] = no_problems) -> Outcome:
    """PASS when every node's reply is a well-formed ``expected``; else the first that
    is not."""
    for exchange in exchanges:
        problem = reply_problem(exchange, expected, problems)
        if problem is not None:
            return failed(problem, exchange)
    slowest = max((e.seconds for e in exchanges), default=0.0)
    return passed(f"{', '.join(e.node for e in exchanges)} answered {expected} "
                  f"(slowest {slowest * 1000:.0f} ms)")


# -- shapes ----------------------------------------------------------------------------------

Predicate = Callable[[Any], bool]


def is_int(value: Any) -> bool:
    """A JSON integer (true and false are not, though Python counts them as ints)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_str(value: Any) -> bool:
    return isinstance(value, str)


def is_object(value: Any) -> bool:
    return isinstance(value, dict)


def list_of(item: Predicate) -> Predicate:
    return lambda value: isinstance(value, list) and all(item(v) for v in value)


def map_of(value_ok: Predicate, keys: Collection[str] | None = None) -> Predicate:
    """An object whose values pass ``value_ok`` (and whose keys are in ``keys``)."""
    return lambda value: isinstance(value, dict) and all(
        value_ok(v) and (keys is None or k in keys) for k, v in value.items())


def one_of(*choices: Any) -> Predicate:
    return lambda value: value in choices


def field_problems(body: Mapping[str, Any], field: str, ok: Predicate, what: str, *,
                   optional: bool = False) -> list[str]:
    """``[]`` if ``body[field]`` is ``what`` (``ok`` says); else the problem, in words."""
    if field not in body:
        return [] if optional else [f"no field {field!r}"]
    if not ok(body[field]):
        return [f"{field!r} must be {what}, got {excerpt(body[field], 120)}"]
    return []


def read_back(session: Session, node: str, request: Mapping[str, Any], expected: str,
              problems: Callable[[Mapping[str, Any]], list[str]],
              holds: Callable[[Mapping[str, Any]], bool], *, acknowledged: str) -> Outcome:
    """Ask ``node`` ``request`` until its well-formed ``expected`` reply ``holds`` what it
    ``acknowledged`` (a node's own reads show what it acknowledged, soon if not at once);
    FAIL at the session's timeout."""
    deadline = time.monotonic() + session.timeout
    while True:
        read = session.ask(node, request)
        problem = reply_problem(read, expected, problems)
        if problem is not None:
            return failed(f"after {acknowledged}: {problem}", read)
        if read.reply is not None and holds(read.reply):
            return passed(f"{node} answered {acknowledged}, and its {expected} then held it")
        if time.monotonic() >= deadline:
            return failed(f"{node} answered {acknowledged}, but its {expected} did not hold "
                          f"it within {session.timeout:g}s", read)
        time.sleep(POLL)
