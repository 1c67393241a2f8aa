"""Linearizability of a key-value store judged from its client history alone (black box).

Each key is a register with ``read``, ``write`` and ``cas`` (compare-and-set, from → to),
holding None until it is first written. A history is linearizable when every operation can
be given one instant between its invocation and its completion such that, taken in the order
of those instants, the operations are those of one register per key. Keys are independent
(Herlihy and Wing's locality, Horn and Kroening's P-compositionality), so each key is
searched on its own.

The search is Wing and Gong's, as Lowe improved it and Porcupine does it: depth first over
the operations that may go next, remembering every (set of operations ordered, register
value) configuration already explored so that none is explored twice. Its cost grows with
the operations open at once on a key; these reductions keep it small on real histories, and
none changes the answer (a test holds the checker to a brute-force one):

* an operation that never changes the register (a read, a cas from a value to itself) and
  is allowed next is taken at once, without trying others first: it could be moved to the
  front of any order that works from there;
* an unknown (``info``) write or cas whose value no operation ever observes is dropped: in an
  order that holds it, only a write can follow it, so the order without it works too;
* a write whose value nothing observes is ordered only just before another write (or when
  it is the first open operation to complete): any order can be rearranged so;
* while the register holds a value only one operation leaves (workloads draw values so),
  it may not change before every read of that value is ordered: the value cannot return.

Before searching, each key is scanned for a few operations that prove a violation on their
own (a read of a value overwritten before the read began, of a value nothing writes, or of
one written only after the read): such a key fails at once, with those operations named,
however large its history.

How operations count follows Jepsen: ``ok`` happened, with its result; ``fail`` certainly did
not happen and is left out, as is every failed read — except a read failing with error 20
(key does not exist), which read None; ``info`` (or no completion) may have happened, at any
time after its invocation, or not at all. An unknown read constrains nothing and is dropped.

The search is bounded by a :class:`Budget`; a key whose search runs out is *unknown*, never
linearizable.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from pytest_dchaos.record.history import FAIL, INFO, OK, History, Op

#: How a search ended.
Status = Literal["pass", "fail", "unknown"]
#: The register operations this checker understands.
RegisterOp = Literal["read", "write", "cas"]

REGISTER_OPS: Final = ("read", "write", "cas")


class RegisterDraws:
    """A key-value workload's operations as this checker likes them drawn: a random key,
    a read, a write or a cas by the given shares, and every write or cas giving its key a
    value never written to it before (1, 2, ...), so a value names its writer and the
    search's reductions apply. A cas expects the key's last value or the one before, so
    some succeed and some fail. Thread-safe: clients draw concurrently."""

    def __init__(self, keys: int, read_ratio: float, cas_ratio: float) -> None:
        self.keys, self.read_ratio, self.cas_ratio = keys, read_ratio, cas_ratio
        self._written: dict[int, int] = {}
        self._lock = threading.Lock()

    def draw(self, rng: random.Random) -> tuple[str, dict[str, Any]]:
        key = rng.randrange(self.keys)
        draw = rng.random()
        if draw < self.read_ratio:
            return "read", {"key": key}
        with self._lock:
            last = self._written.get(key, 0)
            value = self._written[key] = last + 1
        if draw < self.read_ratio + self.cas_ratio:
            return "cas", {"key": key, "from": max(0, last - rng.randrange(2)), "to": value}
        return "write", {"key": key, "value": value}
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
    memory: about a hundred bytes each, more where many operations are open at once);
    ``max_seconds`` bounds the whole check's wall time.
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

    ``blocked`` is an operation that cannot be given a place; ``explanation`` says why, in
    one of two ways. Where three operations prove it on their own — a read (or cas) of a
    value left by one operation only, and another that began after that one completed and
    completed before the read began — they are named (a stale read, a lost write); so are
    a value nothing writes and one written only after it was read. Otherwise it is the
    search's furthest point, as Knossos and Porcupine report it: the first operation, by
    completion, that no order can place, with ``holding``, the values the register could
    hold by then and the operation that left each (None: never written).
    """

    key: Any
    blocked: Operation
    explanation: str
    #: Every operation the explanation names, by invocation (``blocked`` included).
    operations: tuple[Operation, ...]
    #: Operations of this key invoked before ``blocked`` completed: the prefix of the
    #: key's history that is already not linearizable.
    prefix: int
    holding: tuple[tuple[Any, Operation | None], ...] = ()

    def explain(self) -> str:
        return f"key {self.key!r}: {self.explanation}"

    def to_json(self) -> dict[str, Any]:
        return {"key": self.key, "blocked": self.blocked.to_json(),
                "operations": [op.to_json() for op in self.operations],
                "prefix": self.prefix, "explanation": self.explain()}


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
        scope = (f"{_count(self.operations, 'operation')} over "
                 f"{_count(len(self.keys), 'key')} ({self.states:,} states explored in "
                 f"{self.seconds:.2f} s)")
        if self.status == "fail":
            bad = self.counterexamples
            return (f"not linearizable: {len(bad)} of {_count(len(self.keys), 'key')} — "
                    + "; ".join(c.explain() for c in bad[:3])
                    + (f" (and {len(bad) - 3} more keys)" if len(bad) > 3 else "")
                    + f" [{scope}]")
        if self.status == "unknown":
            gave_up = [k for k in self.keys if k.status == "unknown"]
            reasons = "; ".join(f"key {k.key!r}: {k.reason}" for k in gave_up[:3])
            return (f"unknown: the search gave up on {len(gave_up)} of "
                    f"{_count(len(self.keys), 'key')} ({reasons}); the others are "
                    f"linearizable [{scope}]")
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


def _count(n: int, noun: str) -> str:
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


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
#: States the plain search may explore to explain a failure the reduced one found.
_EXPLAIN_STATES: Final = 100_000
#: Wall time is read once per this many steps: the clock costs more than a step.
_CLOCK_EVERY: Final = 1024


@dataclass
class _Frame:
    """One configuration on the search's path and the choices left to try from it: each
    the operations to take, in order, and the register's value after them."""

    options: list[tuple[tuple[int, ...], Hashable]]
    state: Hashable
    writer: int
    tried: int = 0
    applied: tuple[int, ...] = ()


@dataclass
class _Furthest:
    """The furthest the search got: the first operation, by completion, it could not place,
    and what the register could hold there."""

    rank: int = -1
    blocked: int = _NONE
    #: value -> (the operation that left it, the operations ordered by then)
    holding: dict[Hashable, tuple[int, int]] = field(default_factory=dict)
    open: set[int] = field(default_factory=set)


class _Search:
    """One key's search (see the module's docstring)."""

    def __init__(self, operations: Sequence[Operation], max_states: int, deadline: float,
                 reduce: bool = True) -> None:
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
        self.observer = [self.ok[i] and op.f != "write" for i, op in enumerate(ops)]
        writers: Counter[Hashable] = Counter({None: 1})  # None: the register's first value
        observers: Counter[Hashable] = Counter()
        for i, op in enumerate(ops):
            if op.f == "write":
                writers[self.arg[i]] += 1
            else:
                observers[self.arg[i]] += self.observer[i]
            if op.f == "cas":
                writers[self.new[i]] += 1
        # A value only one operation leaves is held once, over one stretch of any order:
        # every read of it (and a cas from it) must be ordered before the register changes
        # again. How many of those are still to be ordered, by value.
        self.left = {v: observers[v] for v, count in writers.items() if count == 1} \
            if reduce else {}
        self.counted = [self.observer[i] and self.arg[i] in self.left for i in range(n)]
        # Writes of a value nothing ever observes: whatever follows them is a write.
        self.blind = [reduce and self.ok[i] and op.f == "write" and self.arg[i] not in observers
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
        # Three operations that prove a violation on their own are found in a moment, even
        # where the search would run out of budget first.
        counterexample = _witness(self.ops, self.all)
        status: Status = "fail"
        states, reason = 0, ""
        if counterexample is None:
            status, states, reason = self._search()
        if status == "fail" and counterexample is None:
            # The reductions find a dead end sooner, often at a write that a read still to
            # come makes impossible; the plain search's furthest point is where a person
            # looks first (the read). Within a small budget: the verdict is known already.
            plain = _Search(self.all, _EXPLAIN_STATES, self.deadline, reduce=False)
            found = plain if plain._search()[0] == "fail" else self
            counterexample = found._counterexample()
        seconds = time.monotonic() - started
        return KeyResult(self.key, status, self.n, states, seconds, counterexample, reason)

    def _search(self) -> tuple[Status, int, str]:
        must = sum(self.ok)
        if must == 0:
            return "pass", 0, ""
        linearized, done = 0, 0
        state: Hashable = None
        writer = _NONE
        seen: set[tuple[int, int, Hashable]] = {(0, 0, None)}
        path = [self._frame(state, writer, linearized)]
        steps = 0
        while path:
            steps += 1
            if steps % _CLOCK_EVERY == 0 and time.monotonic() > self.deadline:
                return "unknown", len(seen), "out of time"
            frame = path[-1]
            if frame.applied:  # back from a dead end: undo the last choice
                for j in reversed(frame.applied):
                    self._put_back(j)
                    linearized ^= 1 << j
                    done -= self.ok[j]
                    if self.counted[j]:
                        self.left[self.arg[j]] += 1
                state, writer, frame.applied = frame.state, frame.writer, ()
            while frame.tried < len(frame.options):
                taken, after = frame.options[frame.tried]
                frame.tried += 1
                ordered = linearized | sum(1 << j for j in taken)
                # Remembered from the first operation not yet ordered on: below it, every
                # one is, so a configuration costs the size of its window, not the history.
                first = (~ordered & (ordered + 1)).bit_length() - 1
                config = (first, ordered >> first, after)
                if config in seen:
                    continue
                if len(seen) >= self.max_states:
                    return "unknown", len(seen), f"over {self.max_states:,} states"
                seen.add(config)
                for j in taken:
                    self._take_out(j)
                    done += self.ok[j]
                    if self.counted[j]:
                        self.left[self.arg[j]] -= 1
                linearized = ordered
                last = taken[-1]
                if self.kind[last] != "read":
                    writer = last
                state = after
                frame.applied = taken
                if done == must:
                    return "pass", len(seen), ""
                path.append(self._frame(state, writer, linearized))
                break
            else:
                path.pop()
        return "fail", len(seen), ""

    def _frame(self, state: Hashable, writer: int, linearized: int) -> _Frame:
        """The configuration's choices: the open operations that may go next (none open
        completed before they were invoked) and leave the register consistent."""
        candidates: list[tuple[int, Hashable]] = []
        bound, blocked = math.inf, _NONE
        call, ret, nxt = self.call, self.ret, self.nxt
        j, tail = nxt[self.head], self.tail
        while j != tail and call[j] <= bound:
            after = self._step(j, state)
            if after is not _INVALID:
                if self.observes[j]:
                    # It never changes the register: taking it now loses no order.
                    return _Frame([((j,), state)], state, writer)
                candidates.append((j, after))
            if ret[j] < bound:
                bound, blocked = ret[j], j
            j = nxt[j]
        self._note(blocked, state, writer, linearized)
        # Reads of the value held still to come: the register may not change before them
        # (a cas from it, the last of them, may).
        waiting = self.left.get(state, 0)
        # Blind writes go just before another write (any order that holds one can be
        # rearranged so), unless one is the first to complete of all open operations.
        blind = tuple(j for j, _ in candidates if self.blind[j])
        options: list[tuple[tuple[int, ...], Hashable]] = []
        unknown: list[tuple[tuple[int, ...], Hashable]] = []
        for j, after in candidates:
            if waiting - (self.observer[j] and self.arg[j] == state) > 0:
                continue
            if self.blind[j] and ret[j] > bound:
                continue
            taken = (*(b for b in blind if b != j), j) if self.kind[j] == "write" else (j,)
            # Unknown operations may never have happened: try those that did first.
            (options if self.ok[j] else unknown).append((taken, after))
        return _Frame(options + unknown, state, writer)

    def _step(self, j: int, state: Hashable) -> Hashable:
        kind, arg = self.kind[j], self.arg[j]
        if kind == "write":
            return arg
        if kind == "read":
            return state if arg == state else _INVALID
        return self.new[j] if arg == state else _INVALID

    def _note(self, blocked: int, state: Hashable, writer: int, linearized: int) -> None:
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
            furthest.holding.setdefault(state, (writer, linearized))
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
                        for w, _ in furthest.holding.values())
        # Reads of a value held that were not ordered yet, though it could not come back.
        awaited = {j for state, (_, linearized) in furthest.holding.items()
                   if state in self.left for j in range(self.n)
                   if self.counted[j] and self.arg[j] == state and not linearized >> j & 1}
        held = " or ".join(f"{v!r} (left by {w.describe()})" if w is not None
                           else f"{v!r} (never written)" for v, w in holding)
        prefix = _prefix(self.all, blocked)
        text = (f"{blocked.describe()} cannot be ordered — whatever order the {prefix} "
                f"operations invoked before it completed take, the register then holds "
                f"{held}")
        if awaited:
            text += ("; still to read it, though nothing else leaves that value: "
                     + _listed(self.ops[j] for j in awaited))
        if furthest.open:
            text += "; still open then: " + _listed(self.ops[j] for j in furthest.open)
        involved = [blocked, *(w for _, w in holding if w is not None),
                    *(self.ops[j] for j in furthest.open | awaited)]
        return Counterexample(self.key, blocked, text, _by_call(involved), prefix, holding)


def _witness(ops: Sequence[Operation], everything: Sequence[Operation]
             ) -> Counterexample | None:
    """The earliest-completing read or cas that a few operations alone show cannot be
    ordered (see :class:`Counterexample`), if there is one."""
    writers: dict[Hashable, list[Operation]] = {}
    for op in ops:
        if op.f != "read":
            writers.setdefault(_frozen(op.written), []).append(op)
    # Operations that certainly changed the register, by invocation, and from each on the
    # one of them that completed first: the earliest change after any instant.
    changes = sorted((op for op in ops if op.f != "read" and op.outcome == OK),
                     key=lambda op: op.call)
    starts = [op.call for op in changes]
    first_done: list[Operation | None] = [None] * (len(changes) + 1)
    for i in range(len(changes) - 1, -1, -1):
        later = first_done[i + 1]
        first_done[i] = changes[i] if later is None or changes[i].ret < later.ret else later
    # (reader, the only operation that leaves what it needs or None for the register's
    # first value, the change that came between or None if that operation came after it)
    found: list[tuple[Operation, Operation | None, Operation | None]] = []
    for reader in ops:
        if reader.outcome != OK or reader.f == "write":
            continue
        value = reader.value if reader.f == "read" else reader.value[0]
        left = writers.get(_frozen(value), [])
        if value is None:
            if left:
                continue  # written again: the register's first value is not its alone
            source = None
        elif len(left) == 1:
            source = left[0]
        else:
            if not left:
                found.append((reader, None, None))
            continue
        if source is not None and source.call > reader.ret:
            found.append((reader, source, None))
            continue
        after = bisect.bisect_right(starts, source.ret) if source is not None else 0
        change = first_done[after]
        if change is not None and change.ret < reader.call:
            found.append((reader, source, change))
    if not found:
        return None
    # Only the first is told: there may be thousands (a node that answers reads unordered).
    reader, source, change = min(found, key=lambda f: (f[0].ret, f[0].index))
    value = reader.value if reader.f == "read" else reader.value[0]
    what = "read" if reader.f == "read" else "cas"
    holding: tuple[tuple[Any, Operation | None], ...] = ()
    if change is not None:
        had = (f"only {source.describe()} leaves {value!r}" if source is not None
               else f"the register holds {value!r} only until it is first written")
        why = (f"{had}, and {change.describe()} "
               f"{'began after that completed and ' if source is not None else ''}"
               f"completed before the {what} began")
        holding = ((change.written, change),)
    elif source is not None:
        why = f"only {source.describe()} leaves {value!r}, and it began after the {what} " \
            "completed"
    else:
        why = f"no operation that may have taken effect leaves {value!r}"
    text = f"{reader.describe()} cannot be ordered — {why}"
    named = [op for op in (source, change, reader) if op is not None]
    return Counterexample(reader.key, reader, text, _by_call(named),
                          _prefix(everything, reader), holding)


def _prefix(operations: Sequence[Operation], blocked: Operation) -> int:
    return sum(1 for op in operations if op.call <= blocked.ret)


def _by_call(operations: Iterable[Operation]) -> tuple[Operation, ...]:
    unique = {op.index: op for op in operations}
    return tuple(sorted(unique.values(), key=lambda op: (op.call, op.index)))


def _listed(operations: Iterable[Operation]) -> str:
    return ", ".join(op.describe() for op in _by_call(operations))


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
