"""The black-box linearizability checker on large histories: how long a correct one takes,
and how fast a violation is found.

1. A seeded simulation of a linearizable key-value store (each operation takes effect at one
   instant between its invocation and its reply) with many concurrent clients: reads,
   writes and compare-and-sets over a few keys, as the PBFT workload draws them (values
   grow per key; a cas expects the latest value or the one before). Some writes and cas
   time out (info): half of them take effect, up to two timeouts after their invocation,
   the rest never do; some reads time out (fail). The history is checked whole. Goal: a
   10,000-operation history over 8 keys in under 10 s, judged linearizable. With
   ``--distinct N`` values repeat, so the search's reductions for values written once no
   longer apply: that shows where it stops scaling.
2. The same history with one violation put in: a read late in the run returns a value that
   was overwritten before the read began (a stale read), or a read finds nothing where an
   acknowledged write was (a lost write). Each must be found, and its counterexample must
   name the read; the time to find it is printed.

    python benchmarks/bench_linearizability.py [--seed N] [--ops N] [--keys K]
                                               [--clients C] [--info P] [--distinct N]
"""

from __future__ import annotations

import argparse
import heapq
import random
import time
from dataclasses import dataclass, replace
from typing import Any

from pytest_dchaos.checkers.linearizability import Budget, LinearizabilityResult, check
from pytest_dchaos.record.history import FAIL, INFO, INVOKE, OK, History, Op

GOAL_SECONDS = 10.0
#: A client's request takes effect after about this long, and is answered about as long
#: after that (exponentially distributed); a timed-out one gives up after TIMEOUT.
LATENCY = 0.004
TIMEOUT = 0.25


@dataclass
class Pending:
    invocation: Op
    client: str
    f: str
    args: dict[str, Any]
    happens: bool
    outcome: str = OK
    result: Any = None
    error: str | None = None


def simulate(seed: int, ops: int, keys: int, clients: int, info: float,
             distinct: int = 0) -> History:
    """A history of ``ops`` operations from a store that is linearizable by construction."""
    rng = random.Random(seed)
    store: dict[int, int] = {}
    latest: dict[int, int] = {}
    events: list[tuple[float, int, str, Any]] = []  # (time, tie-break, kind, payload)
    recorded: list[Op] = []
    issued = 0
    order = 0

    def schedule(at: float, kind: str, payload: Any) -> None:
        nonlocal order
        order += 1
        heapq.heappush(events, (at, order, kind, payload))

    for c in range(1, clients + 1):
        schedule(rng.uniform(0, LATENCY), "invoke", f"c{c}")
    while events:
        now, _, kind, payload = heapq.heappop(events)
        if kind == "invoke":
            if issued == ops:
                continue
            issued += 1
            pending = draw(rng, payload, now, keys, latest, info, distinct)
            recorded.append(pending.invocation)
            if pending.outcome == INFO:
                if pending.happens:
                    schedule(now + rng.uniform(0, 2 * TIMEOUT), "effect", pending)
                schedule(now + TIMEOUT, "reply", pending)
            elif pending.outcome == FAIL:  # a read that timed out
                schedule(now + TIMEOUT, "reply", pending)
            else:
                schedule(now + rng.expovariate(1 / LATENCY), "effect", pending)
        elif kind == "effect":
            apply(payload, store)
            if payload.outcome != INFO:
                schedule(now + rng.expovariate(1 / LATENCY), "reply", payload)
        else:
            p: Pending = payload
            value = {**p.args, "value": p.result} if p.f == "read" and p.outcome == OK \
                else p.args
            recorded.append(Op(0, p.client, p.outcome, p.f, value, now, None, p.error))
            schedule(now + rng.uniform(0, LATENCY), "invoke", p.client)
    return History.of(recorded)


def draw(rng: random.Random, client: str, now: float, keys: int, latest: dict[int, int],
         info: float, distinct: int) -> Pending:
    key = rng.randrange(keys)
    draw_f = rng.random()
    timestamp = int(now * 1e6)
    if draw_f < 0.4:
        f, args = "read", {"key": key}
    else:
        last = latest.get(key, 0)
        latest[key] = last + 1

        def value(n: int) -> int:
            return n % distinct if distinct else n

        if draw_f < 0.6:
            f, args = "cas", {"key": key, "from": value(max(0, last - rng.randrange(2))),
                              "to": value(last + 1)}
        else:
            f, args = "write", {"key": key, "value": value(last + 1)}
    args = {**args, "client": client, "timestamp": timestamp}
    pending = Pending(Op(0, client, INVOKE, f, args, now), client, f, args, happens=True)
    if f == "read" and rng.random() < info / 2:
        pending.outcome, pending.happens, pending.error = FAIL, False, "timeout"
    elif f != "read" and rng.random() < info:
        pending.outcome, pending.happens = INFO, rng.random() < 0.5
        pending.error = "timeout"
    return pending


def apply(p: Pending, store: dict[int, int]) -> None:
    """Execute one operation on the store, as the PBFT replicas' state machine does."""
    key = p.args["key"]
    if p.f == "read":
        if key in store:
            p.result = store[key]
        else:
            p.outcome, p.error = FAIL, "error 20: key does not exist"
    elif p.f == "write":
        store[key] = p.args["value"]
    elif key not in store:
        if p.outcome == OK:
            p.outcome, p.error = FAIL, "error 20: key does not exist"
    elif store[key] != p.args["from"]:
        if p.outcome == OK:
            p.outcome, p.error = FAIL, "error 22: precondition failed"
    else:
        store[key] = p.args["to"]


def stale_read(history: History, lost: bool) -> tuple[History, Op]:
    """The history with one read, about 70 % in, changed: to the value of the latest write
    of its key that another write certainly overwrote before the read began — the other
    began after it completed and completed before the read began (``lost``: to "no such
    key", though a write had been acknowledged before the read began)."""
    ops = history.ops
    pairs = list(history.pairs())
    for invocation, completion in pairs[int(len(pairs) * 0.7):]:
        if invocation.f != "read" or completion is None or completion.type != OK:
            continue
        key = invocation.value["key"]
        done = sorted((i.time, c.time, i.value.get("value", i.value.get("to")))
                      for i, c in pairs if i.f in ("write", "cas") and c is not None
                      and i.value["key"] == key and c.type == OK and c.time < invocation.time)
        if lost and done:
            changed = replace(completion, type=FAIL, value=invocation.value,
                              error="error 20: key does not exist")
        else:
            overwritten = [value for _, finished, value in done
                           if any(finished < began for began, _, _ in done)]
            if not overwritten:
                continue
            changed = replace(completion, value={**completion.value, "value": overwritten[-1]})
        ops[completion.index] = changed
        return History.of(ops), invocation
    raise SystemExit("no read to make stale: a longer history is needed")


def judge(history: History) -> tuple[LinearizabilityResult, float]:
    started = time.perf_counter()
    result = check(history, Budget(max_states=5_000_000, max_seconds=120.0))
    return result, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=8)
    parser.add_argument("--clients", type=int, default=48)
    parser.add_argument("--info", type=float, default=0.05,
                        help="share of writes and cas that time out (info)")
    parser.add_argument("--distinct", type=int, default=0,
                        help="values drawn from this many (default: every write its own)")
    args = parser.parse_args()
    history = simulate(args.seed, args.ops, args.keys, args.clients, args.info,
                       args.distinct)
    outcomes = {OK: 0, FAIL: 0, INFO: 0}
    for _, completion in history.pairs():
        outcomes[completion.type if completion is not None else INFO] += 1
    result, seconds = judge(history)
    met = "met" if seconds < GOAL_SECONDS and result.linearizable else "NOT met"
    per_key = max(result.keys, key=lambda k: k.seconds)
    values = f"values from {args.distinct}" if args.distinct else "every value written once"
    keys = f"{args.keys} key{'' if args.keys == 1 else 's'}"
    print(f"1. correct history (seed {args.seed}): {args.ops:,} operations, {keys}, "
          f"{args.clients} clients, {values} — {outcomes[OK]:,} ok, {outcomes[FAIL]:,} fail, "
          f"{outcomes[INFO]:,} info; {result.operations:,} register operations judged, "
          f"{result.dropped:,} left out as failed")
    print(f"   verdict: {result.status}; {seconds:.2f} s, {result.states:,} states explored "
          f"({result.states / max(seconds, 1e-9):,.0f}/s; slowest key {per_key.key!r}: "
          f"{per_key.seconds:.2f} s, {per_key.states:,} states)")
    print(f"   goal: {args.ops:,} operations over {keys} in < {GOAL_SECONDS:.0f} s, "
          f"linearizable — {met}")
    print("2. the same history with one violation put in"
          + (" (values repeat: a changed read may still have an order)" if args.distinct
             else ""))
    for name, lost in (("stale read", False), ("lost write", True)):
        broken, read = stale_read(history, lost)
        result, seconds = judge(broken)
        named = [c.blocked.index for c in result.counterexamples] == [read.index]
        print(f"   {name}: {result.status} in {seconds:.2f} s, {result.states:,} states; "
              f"counterexample names the changed read: {'yes' if named else 'NO'}")
        if result.counterexamples:
            print(f"     {result.counterexamples[0].explain()}")


if __name__ == "__main__":
    main()
