"""Strict two-phase locking at a participant: shared locks for reads, exclusive for writes,
held until the transaction's outcome is decided.

A request that conflicts waits in the key's queue, first come first served (a request
never overtakes an earlier conflicting one, so writers do not starve). A transaction that
holds the only shared lock may upgrade it. :meth:`LockTable.waits_for` gives the wait-for
edges — who waits for whom, here — for deadlock detection.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

SHARED, EXCLUSIVE = "S", "X"


@dataclass
class Waiter:
    txn: str
    mode: str
    future: asyncio.Future[None]


@dataclass
class Lock:
    mode: str = SHARED
    holders: set[str] = field(default_factory=set)
    queue: list[Waiter] = field(default_factory=list)


class LockTable:
    def __init__(self) -> None:
        self.locks: dict[int, Lock] = {}
        self.held: dict[str, set[int]] = {}

    def _compatible(self, lock: Lock, txn: str, mode: str) -> bool:
        others = lock.holders - {txn}
        if not others:
            return True
        return mode == SHARED and lock.mode == SHARED

    def acquire(self, txn: str, key: int, mode: str) -> asyncio.Future[None]:
        """A future that settles when ``txn`` holds ``key`` in ``mode`` (at once if it can)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        lock = self.locks.setdefault(key, Lock())
        if txn in lock.holders and (lock.mode == EXCLUSIVE or mode == SHARED):
            future.set_result(None)
        elif not lock.queue and self._compatible(lock, txn, mode):
            self._grant(lock, txn, key, mode)
            future.set_result(None)
        else:
            lock.queue.append(Waiter(txn, mode, future))
        return future

    def grab(self, txn: str, key: int, mode: str) -> None:
        """Take a lock unconditionally (recovery: a prepared transaction's locks)."""
        self._grant(self.locks.setdefault(key, Lock()), txn, key, mode)

    def _grant(self, lock: Lock, txn: str, key: int, mode: str) -> None:
        lock.holders.add(txn)
        if mode == EXCLUSIVE:
            lock.mode = EXCLUSIVE  # a freed lock goes back to SHARED (release_all)
        self.held.setdefault(txn, set()).add(key)

    def release_all(self, txn: str) -> None:
        """Drop every lock and request of ``txn``, then grant what can be granted."""
        keys = self.held.pop(txn, set())
        touched = set(keys)
        for key, lock in self.locks.items():
            kept = [w for w in lock.queue if w.txn != txn]
            if len(kept) != len(lock.queue):
                for waiter in lock.queue:
                    if waiter.txn == txn and not waiter.future.done():
                        waiter.future.cancel()
                lock.queue = kept
                touched.add(key)
        for key in keys:
            lock = self.locks[key]
            lock.holders.discard(txn)
            if not lock.holders:
                lock.mode = SHARED
        for key in touched:
            self._wake(key)

    def _wake(self, key: int) -> None:
        lock = self.locks.get(key)
        if lock is None:
            return
        while lock.queue:
            waiter = lock.queue[0]
            if waiter.future.done():
                lock.queue.pop(0)
                continue
            if not self._compatible(lock, waiter.txn, waiter.mode):
                break
            lock.queue.pop(0)
            self._grant(lock, waiter.txn, key, waiter.mode)
            waiter.future.set_result(None)
        if not lock.holders and not lock.queue:
            del self.locks[key]

    def waits_for(self) -> list[tuple[str, str, int]]:
        """(waiting txn, txn it waits for, key) for every waiting request: it waits for the
        holders it conflicts with and for conflicting requests queued before it."""
        edges = []
        for key, lock in self.locks.items():
            ahead: list[Waiter] = []
            for waiter in lock.queue:
                if waiter.future.done():
                    continue
                conflict = EXCLUSIVE in (lock.mode, waiter.mode)
                blockers = {h for h in lock.holders if h != waiter.txn} if conflict else set()
                blockers |= {w.txn for w in ahead if w.txn != waiter.txn and
                             EXCLUSIVE in (w.mode, waiter.mode)}
                edges += [(waiter.txn, other, key) for other in sorted(blockers)]
                ahead.append(waiter)
        return edges

    def describe(self) -> dict[str, dict[str, object]]:
        return {str(key): {"mode": lock.mode, "holders": sorted(lock.holders),
                           "waiters": [w.txn for w in lock.queue if not w.future.done()]}
                for key, lock in self.locks.items()}
