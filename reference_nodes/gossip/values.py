"""The broadcast values a node knows, logged by where they entered the cluster.

Each value a client broadcasts becomes an *entry* ``(origin, seq) -> value``: ``origin``
names the process that took it from the client (node id plus a random epoch, so a
restarted node never reuses an earlier life's numbers) and ``seq`` counts that origin's
entries from 1. Because every origin numbers its entries densely, what a node knows is
summarised by a *version vector* — per origin, the highest ``seq`` up to which it has
every entry — a few hundred bytes however many values there are.

That is what makes anti-entropy cheap (see :mod:`anti_entropy`): two nodes swap vectors,
and each sends the other exactly the entries past the other's vector. Values still in
flight when two nodes compare are the only slack, so a repair costs in proportion to what
is actually missing, not to the size of the set. Reads see the values, deduplicated.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

Key = tuple[str, int]  # (origin, seq)
Entry = tuple[str, int, int]  # (origin, seq, value)
Vector = dict[str, int]  # origin -> highest seq with no gap below it
Wire = dict[str, list[list[int]]]  # origin -> [[seq, value], ...]


def new_origin(node_id: str, rng: random.Random | None = None) -> str:
    """A name for this process's entries that no earlier life of ``node_id`` used."""
    return f"{node_id}.{(rng or random.SystemRandom()).getrandbits(32):08x}"


def encode(entries: Iterable[Entry]) -> Wire:
    """Entries grouped by origin, the shape they take on the wire."""
    out: Wire = {}
    for origin, seq, value in entries:
        out.setdefault(origin, []).append([seq, value])
    return out


def decode(wire: Any) -> list[Entry]:
    """Parse :func:`encode`'s shape; :class:`ValueError` if it is something else."""
    if not isinstance(wire, dict):
        raise ValueError("entries must be an object {origin: [[seq, value], ...]}")
    out: list[Entry] = []
    for origin, items in wire.items():
        if not isinstance(items, list):
            raise ValueError(f"entries of {origin!r} must be a list of [seq, value] pairs")
        for item in items:
            if not (isinstance(item, list) and len(item) == 2 and all(
                    isinstance(x, int) and not isinstance(x, bool) for x in item)
                    and item[0] >= 1):
                raise ValueError(f"not a [seq, value] pair of integers: {item!r:.60}")
            out.append((origin, item[0], item[1]))
    return out


def parse_vector(vector: Any) -> Vector:
    if not isinstance(vector, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in vector.values()):
        raise ValueError("a version vector is an object {origin: integer}")
    return vector


class ValueLog:
    """Every entry this node knows, its version vector, and the set of values."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[int, int]] = {}
        self._vector: Vector = {}
        self._top: dict[str, int] = {}  # origin -> highest seq known, gaps or not
        self._count: dict[int, int] = {}  # value -> number of entries carrying it
        self._sorted: list[int] | None = []

    def __len__(self) -> int:
        """Number of distinct values."""
        return len(self._count)

    def __contains__(self, value: object) -> bool:
        return value in self._count

    def has(self, origin: str, seq: int) -> bool:
        return seq in self._entries.get(origin, ())

    def value(self, key: Key) -> int:
        return self._entries[key[0]][key[1]]

    def add(self, origin: str, seq: int, value: int) -> bool:
        """Record an entry; whether it was new."""
        log = self._entries.setdefault(origin, {})
        if seq in log:
            return False
        log[seq] = value
        if seq > self._top.get(origin, 0):
            self._top[origin] = seq
        top = self._vector.get(origin, 0)
        while top + 1 in log:
            top += 1
        if top:
            self._vector[origin] = top
        if value not in self._count:
            self._sorted = None
        self._count[value] = self._count.get(value, 0) + 1
        return True

    def add_all(self, entries: Iterable[Entry]) -> list[Key]:
        """Record entries; the keys of those that were new."""
        return [(o, s) for o, s, v in entries if self.add(o, s, v)]

    def append(self, origin: str, value: int) -> Key:
        """A new entry of this node's own ``origin`` (its next seq)."""
        seq = self._top.get(origin, 0) + 1
        self.add(origin, seq, value)
        return (origin, seq)

    def sorted(self) -> list[int]:
        """Every distinct value, ascending (cached until the next new value)."""
        if self._sorted is None:
            self._sorted = sorted(self._count)
        return self._sorted

    def vector(self) -> Vector:
        return dict(self._vector)

    def entries(self, keys: Iterable[Key]) -> list[Entry]:
        return [(o, s, self._entries[o][s]) for o, s in keys]

    def beyond(self, vector: Mapping[str, int]) -> list[Entry]:
        """Every entry past ``vector`` — what a node with that vector may lack."""
        out: list[Entry] = []
        for origin, top in self._top.items():
            known = max(vector.get(origin, 0), 0)
            if top > known:
                log = self._entries[origin]
                out.extend((origin, s, log[s]) for s in range(known + 1, top + 1) if s in log)
        return out
