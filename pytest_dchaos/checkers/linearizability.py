"""Linearizability of a key-value store judged from its client history alone (black box).

Each key is a register with ``read``, ``write`` and ``cas`` (compare-and-set, from → to),
holding None until it is first written. A history is linearizable when every operation can
be given one instant between its invocation and its completion such that, taken in the order
of those instants, the operations are those of one register per key. Keys are independent
(Herlihy and Wing's locality, Horn and Kroening's P-compositionality), so each key is
searched on its own.

The search is Wing and Gong's, as Lowe improved it and Porcupine does it: depth first over
the operations that may go next, remembering every (set of operations ordered, register
value) configuration already explored so that none is explored twice. Two reductions keep it
small on real histories, both exact (they never change the answer):

* an operation that never changes the register (a read, a cas from a value to itself) and
  is allowed next is taken at once, without trying others first: it could be moved to the
  front of any order that works from there;
* an unknown (``info``) write or cas whose value no operation ever observes is dropped: in an
  order that holds it, only a write can follow it, so the order without it works too.

How operations count follows Jepsen: ``ok`` happened, with its result; ``fail`` certainly did
not happen and is left out, as is every failed read — except a read failing with error 20
(key does not exist), which read None; ``info`` (or no completion) may have happened, at any
time after its invocation, or not at all. An unknown read constrains nothing and is dropped.

The search is bounded by a :class:`Budget`; a key whose search runs out is *unknown*, never
linearizable.
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from pytest_dchaos.record.history import FAIL, INFO, OK, History, Op

#: How a search ended.
Status = Literal["pass", "fail", "unknown"]
#: The register operations this checker understands.
RegisterOp = Literal["read", "write", "cas"]

REGISTER_OPS: Final = ("read", "write", "cas")
#: Maelstrom's key-does-not-exist: a read that got it read an absent key (None).
KEY_DOES_NOT_EXIST: Final = 20

_ERROR_CODE = re.compile(r"error (\d+)")


def error_code(op: Op) -> int | None:
    """The Maelstrom error code a completion was recorded with (``error 22: ...``), if any."""
    match = _ERROR_CODE.search(op.error or "")
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class Budget:
    """How far a search may go before it gives up and says *unknown*.

    ``max_states`` bounds the configurations one key's search may explore (and so its
    memory, a few hundred bytes each); ``max_seconds`` bounds the whole check's wall time.
    """

    max_states: int = 500_000
    max_seconds: float = 30.0


@dataclass(frozen=True)
class Operation:
    """One register operation as the checker sees it: what it did and when it was open."""

    #: The invocation's index in the history.
    index: int
    client: str
    key: Any
    f: RegisterOp
    #: read: the value it returned; write: the value it wrote; cas: ``(from, to)``.
    value: Any
    call: float
    #: When it completed; ``math.inf`` when unknown (it may take effect any time after
    #: ``call``, or never).
    ret: float
    outcome: Literal["ok", "info"] = OK

    @property
    def written(self) -> Any:
        """The value it leaves in the register (write and cas)."""
        return self.value[1] if self.f == "cas" else self.value

    def describe(self) -> str:
        """e.g. ``c2 read key 1 → 5 [2.000, 3.000] s``."""
        if self.f == "read":
            what = f"read key {self.key!r} → {self.value!r}"
        elif self.f == "write":
            what = f"write key {self.key!r} := {self.value!r}"
        else:
            what = f"cas key {self.key!r} {self.value[0]!r} → {self.value[1]!r}"
        when = (f"[{self.call:.3f}, {self.ret:.3f}] s" if self.outcome == OK
                else f"[{self.call:.3f} s, outcome unknown]")
        return f"{self.client} {what} {when}"

    def to_json(self) -> dict[str, Any]:
        return {"index": self.index, "client": self.client, "key": self.key, "f": self.f,
                "value": list(self.value) if self.f == "cas" else self.value,
                "call": self.call, "ret": None if self.ret == math.inf else self.ret,
                "outcome": self.outcome}


@dataclass(frozen=True)
class Counterexample:
    """Why one key's operations cannot be ordered.

    ``blocked`` is the operation that no order of the key's operations can place before it
    completed (the search's furthest point, as Knossos and Porcupine report it);
    ``holding`` the values the register could hold then, each with the operation that left
    it (None: never written); ``open`` the other operations that could still have gone
    first there.
    """

    key: Any
    blocked: Operation
    holding: tuple[tuple[Any, Operation | None], ...]
    open: tuple[Operation, ...]
    #: Operations of this key invoked before ``blocked`` completed: the prefix of the
    #: key's history that is already not linearizable.
    prefix: int

    @property
    def operations(self) -> tuple[Operation, ...]:
        """The operations involved, by invocation: the writers, the open ones, the
        blocked one."""
        involved = {op.index: op for op in self.open}
        involved.update((w.index, w) for _, w in self.holding if w is not None)
        involved[self.blocked.index] = self.blocked
        return tuple(sorted(involved.values(), key=lambda op: (op.call, op.index)))

    def explain(self) -> str:
        held = " or ".join(f"{v!r} (left by {w.describe()})" if w is not None
                           else f"{v!r} (never written)" for v, w in self.holding)
        text = (f"key {self.key!r}: {self.blocked.describe()} cannot be ordered — whatever "
                f"order the {self.prefix} operations invoked before it completed take, the "
                f"register then holds {held}")
        if self.open:
            text += "; still open then: " + ", ".join(op.describe() for op in self.open)
        return text

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "blocked": self.blocked.to_json(),
                "holding": [{"value": v, "left_by": w.to_json() if w else None}
                            for v, w in self.holding],
                "open": [op.to_json() for op in self.open], "prefix": self.prefix,
                "explanation": self.explain()}


@dataclass(frozen=True)
class KeyResult:
    key: Any
    status: Status
    #: Operations searched (after unknown ones nobody observed were dropped).
    operations: int
    #: Configurations explored.
    states: int
    seconds: float
    counterexample: Counterexample | None = None
    #: Why the search gave up (status unknown).
    reason: str = ""


@dataclass(frozen=True)
class LinearizabilityResult:
    """The verdict over every key: ``fail`` if any key fails (keys are independent, so one
    is enough), else ``unknown`` if any key's search gave up, else ``pass``."""

    status: Status
    keys: tuple[KeyResult, ...]
    #: Register operations in the history, and those left out (failed, unknown reads).
    operations: int
    dropped: int
    seconds: float

    @property
    def linearizable(self) -> bool:
        return self.status == "pass"

    @property
    def states(self) -> int:
        return sum(k.states for k in self.keys)

    @property
    def counterexamples(self) -> tuple[Counterexample, ...]:
        return tuple(k.counterexample for k in self.keys if k.counterexample is not None)

    def summary(self) -> str:
        """One paragraph a person can act on."""
        scope = (f"{self.operations} operations over {len(self.keys)} keys "
                 f"({self.states:,} states explored in {self.seconds:.2f} s)")
        if self.status == "fail":
            bad = self.counterexamples
            return (f"not linearizable: {len(bad)} of {len(self.keys)} keys — "
                    + "; ".join(c.explain() for c in bad[:3])
                    + (f" (and {len(bad) - 3} more keys)" if len(bad) > 3 else "")
                    + f" [{scope}]")
        if self.status == "unknown":
            gave_up = [k for k in self.keys if k.status == "unknown"]
            return (f"unknown: the search gave up on {len(gave_up)} of {len(self.keys)} "
                    f"keys ({'; '.join(f'key {k.key!r}: {k.reason}' for k in gave_up[:3])}); "
                    f"the others are linearizable [{scope}]")
        return f"linearizable: {scope}"


def check(history: History, budget: Budget = Budget()) -> LinearizabilityResult:
    """Judge a history's ``read``/``write``/``cas`` operations (other ones are ignored)."""
    started = time.monotonic()
    operations, dropped = operations_of(history)
    return check_operations(operations, budget, dropped=dropped, started=started)


def operations_of(history: History) -> tuple[list[Operation], int]:
    """The register operations of a history under Jepsen's outcome rules, and how many were
    left out as certainly not having happened (or, for unknown reads, saying nothing).

    An operation's value is a mapping with ``key``, and ``value`` (write), ``from`` and
    ``to`` (cas); a read's result is the ``value`` of its completion's mapping.
    """
    operations: list[Operation] = []
    dropped = 0
    for invocation, completion in history.pairs():
        if invocation.f not in REGISTER_OPS or not isinstance(invocation.value, dict) \
                or "key" not in invocation.value:
            continue
        op = _operation(invocation, completion)
        if op is None:
            dropped += 1
        else:
            operations.append(op)
    return operations, dropped


def _operation(invocation: Op, completion: Op | None) -> Operation | None:
    args: dict[str, Any] = invocation.value
    f: RegisterOp = "read" if invocation.f == "read" else \
        "write" if invocation.f == "write" else "cas"
    outcome = INFO if completion is None or completion.type not in (OK, FAIL) \
        else completion.type
    if f == "read":
        if outcome == INFO:
            return None  # it changed nothing, and what it saw is unknown
        if outcome == FAIL:
            assert completion is not None
            if error_code(completion) != KEY_DOES_NOT_EXIST:
                return None
            result = None
        else:
            assert completion is not None
            result = completion.value.get("value") if isinstance(completion.value, dict) \
                else None
        return Operation(invocation.index, invocation.process, args["key"], f, result,
                         invocation.time, completion.time)
    if outcome == FAIL:
        return None  # including a cas whose precondition failed: it changed nothing
    value = (args.get("from"), args.get("to")) if f == "cas" else args.get("value")
    if outcome == INFO:
        return Operation(invocation.index, invocation.process, args["key"], f, value,
                         invocation.time, math.inf, INFO)
    assert completion is not None
    return Operation(invocation.index, invocation.process, args["key"], f, value,
                     invocation.time, completion.time)


def check_operations(operations: Iterable[Operation], budget: Budget = Budget(), *,
                     dropped: int = 0, started: float | None = None) -> LinearizabilityResult:
    """Judge ready-made operations, key by key, within ``budget``."""
    started = time.monotonic() if started is None else started
    deadline = started + budget.max_seconds
    by_key: dict[Hashable, list[Operation]] = {}
    total = 0
    for op in operations:
        by_key.setdefault(_frozen(op.key), []).append(op)
        total += 1
    results = tuple(_Search(ops, budget.max_states, deadline).run()
                    for _, ops in sorted(by_key.items(), key=lambda kv: repr(kv[0])))
    statuses = {r.status for r in results}
    status: Status = "fail" if "fail" in statuses else \
        "unknown" if "unknown" in statuses else "pass"
    return LinearizabilityResult(status, results, total, dropped, time.monotonic() - started)


def _frozen(value: Any) -> Hashable:
    """A hashable stand-in for a JSON value, equal exactly when the values are."""
    if isinstance(value, list | tuple):
        return ("list", tuple(_frozen(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), _frozen(v)) for k, v in value.items())))
    if isinstance(value, Hashable):
        return value
    return ("repr", repr(value))


#: Stand-in for "no operation" in the search's arrays (the register was never written).
_NONE: Final = -1
#: How many distinct register values, and open operations, a counterexample lists.
_SHOWN: Final = 5
#: Wall time is read once per this many steps: the clock costs more than a step.
_CLOCK_EVERY: Final = 1024


@dataclass
class _Frame:
    """One configuration on the search's path and the choices left to try from it."""

    options: list[tuple[int, Hashable]]
    state: Hashable
    writer: int
    tried: int = 0
    applied: int = _NONE


@dataclass
class _Furthest:
    """The furthest the search got: the first operation, by completion, it could not place,
    and what the register could hold there."""

    rank: int = -1
    blocked: int = _NONE
    holding: dict[Hashable, int] = field(default_factory=dict)
    open: set[int] = field(default_factory=set)


class _Search:
    """One key's search (see the module's docstring)."""

    def __init__(self, operations: Sequence[Operation], max_states: int,
                 deadline: float) -> None:
        self.key = operations[0].key
        self.all = list(operations)
        ops = sorted(_observed(operations), key=lambda op: (op.call, op.index))
        self.ops = ops
        self.max_states, self.deadline = max_states, deadline
        n = len(ops)
        self.n = n
        self.call = [op.call for op in ops] + [-math.inf, math.inf]  # head, tail
        self.ret = [op.ret for op in ops]
        self.ok = [op.outcome == OK for op in ops]
        self.kind = [op.f for op in ops]
        # What a read must see, a write leaves, a cas expects; and what a cas leaves.
        self.arg = [_frozen(op.value[0] if op.f == "cas" else op.value) for op in ops]
        self.new = [_frozen(op.value[1]) if op.f == "cas" else None for op in ops]
        # Reads, and cas from a value to itself: wherever they are allowed, they leave the
        # register as it was. (A write of the value held is not one: placed elsewhere, it
        # would change it.)
        self.observes = [op.f == "read" or (op.f == "cas" and self.arg[i] == self.new[i])
                         for i, op in enumerate(ops)]
        by_return = sorted(range(n), key=lambda i: (self.ret[i], i))
        self.rank = [0] * n
        for position, i in enumerate(by_return):
            self.rank[i] = position
        # The operations not yet ordered, in invocation order, as a doubly linked list
        # between a head (n) and a tail (n + 1): taking one out and putting it back, last
        # out first in, are O(1), and the scan for what may go next walks only open ones.
        self.head, self.tail = n, n + 1
        chain = [self.head, *range(n), self.tail]
        self.nxt = [self.tail] * (n + 2)
        self.prv = [self.head] * (n + 2)
        for before, after in itertools.pairwise(chain):
            self.nxt[before], self.prv[after] = after, before
        self.furthest = _Furthest()

    def run(self) -> KeyResult:
        started = time.monotonic()
        status, states, reason = self._search()
        seconds = time.monotonic() - started
        counterexample = self._counterexample() if status == "fail" else None
        return KeyResult(self.key, status, self.n, states, seconds, counterexample, reason)

    def _search(self) -> tuple[Status, int, str]:
        must = sum(self.ok)
        if must == 0:
            return "pass", 0, ""
        linearized, done = 0, 0
        state: Hashable = None
        writer = _NONE
        seen: set[tuple[int, Hashable]] = {(0, None)}
        path = [self._frame(state, writer)]
        steps = 0
        while path:
            steps += 1
            if steps % _CLOCK_EVERY == 0 and time.monotonic() > self.deadline:
                return "unknown", len(seen), "out of time"
            frame = path[-1]
            if frame.applied != _NONE:  # back from a dead end: undo the last choice
                j = frame.applied
                self._put_back(j)
                linearized ^= 1 << j
                done -= self.ok[j]
                state, writer, frame.applied = frame.state, frame.writer, _NONE
            while frame.tried < len(frame.options):
                j, after = frame.options[frame.tried]
                frame.tried += 1
                config = (linearized | 1 << j, after)
                if config in seen:
                    continue
                if len(seen) >= self.max_states:
                    return "unknown", len(seen), f"over {self.max_states:,} states"
                seen.add(config)
                self._take_out(j)
                linearized = config[0]
                done += self.ok[j]
                if self.kind[j] != "read":
                    writer = j
                state = after
                frame.applied = j
                if done == must:
                    return "pass", len(seen), ""
                path.append(self._frame(state, writer))
                break
            else:
                path.pop()
        return "fail", len(seen), ""

    def _frame(self, state: Hashable, writer: int) -> _Frame:
        """The configuration's choices: every open operation that may go next (none open
        completed before it was invoked) and leaves the register consistent."""
        options: list[tuple[int, Hashable]] = []
        unknown: list[tuple[int, Hashable]] = []
        bound, blocked = math.inf, _NONE
        call, ret, ok, nxt = self.call, self.ret, self.ok, self.nxt
        j, tail = nxt[self.head], self.tail
        while j != tail and call[j] <= bound:
            after = self._step(j, state)
            if after is not _INVALID:
                if self.observes[j]:
                    # It never changes the register: taking it now loses no order.
                    return _Frame([(j, state)], state, writer)
                (options if ok[j] else unknown).append((j, after))
            if ret[j] < bound:
                bound, blocked = ret[j], j
            j = nxt[j]
        self._note(blocked, state, writer)
        # Unknown operations may never have happened: try those that did first.
        return _Frame(options + unknown, state, writer)

    def _step(self, j: int, state: Hashable) -> Hashable:
        kind, arg = self.kind[j], self.arg[j]
        if kind == "write":
            return arg
        if kind == "read":
            return state if arg == state else _INVALID
        return self.new[j] if arg == state else _INVALID

    def _note(self, blocked: int, state: Hashable, writer: int) -> None:
        """Remember the furthest configuration: where the earliest-completing open
        operation is latest."""
        if blocked == _NONE:
            return
        rank, furthest = self.rank[blocked], self.furthest
        if rank < furthest.rank:
            return
        if rank > furthest.rank:
            self.furthest = furthest = _Furthest(rank, blocked)
        if len(furthest.holding) < _SHOWN:
            furthest.holding.setdefault(state, writer)
        j = self.nxt[self.head]
        while j != self.tail and self.call[j] <= self.ret[blocked] \
                and len(furthest.open) < _SHOWN:
            if j != blocked:
                furthest.open.add(j)
            j = self.nxt[j]

    def _take_out(self, j: int) -> None:
        nxt, prv = self.nxt, self.prv
        nxt[prv[j]] = nxt[j]
        prv[nxt[j]] = prv[j]

    def _put_back(self, j: int) -> None:
        nxt, prv = self.nxt, self.prv
        nxt[prv[j]] = j
        prv[nxt[j]] = j

    def _counterexample(self) -> Counterexample:
        furthest = self.furthest
        blocked = self.ops[furthest.blocked]
        # A configuration's value is what its last writer left (None before any).
        holding = tuple((self.ops[w].written, self.ops[w]) if w != _NONE else (None, None)
                        for w in furthest.holding.values())
        open_ops = tuple(sorted((self.ops[j] for j in furthest.open),
                                key=lambda op: (op.call, op.index)))
        prefix = sum(1 for op in self.all if op.call <= blocked.ret)
        return Counterexample(self.key, blocked, holding, open_ops, prefix)


class _Invalid:
    """The result of a step the register does not allow."""


_INVALID: Final = _Invalid()


def _observed(operations: Sequence[Operation]) -> list[Operation]:
    """The operations without unknown writes and cas whose value nobody observed (see the
    module's docstring: they can be left out without changing the answer)."""
    seen: set[Hashable] = set()
    for op in operations:
        if op.f == "read":
            seen.add(_frozen(op.value))
        elif op.f == "cas":
            seen.add(_frozen(op.value[0]))
    return [op for op in operations
            if op.outcome == OK or _frozen(op.written) in seen]
