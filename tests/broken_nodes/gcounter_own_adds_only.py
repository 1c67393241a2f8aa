#!/usr/bin/env python3
"""Broken grow-only counter node (the example family's): it never merges what peers send.

Bug: the careless first implementation. Each node counts the adds it took itself and reads
back only those, so no node's read includes another node's adds, partition or none.

Must be caught by: final_value (examples/gcounter_dchaos), naming each node's wrong read.
Needs examples/ on PYTHONPATH.
"""

from __future__ import annotations

from gcounter_dchaos.node import CounterNode


class OwnAddsOnly(CounterNode):
    def merge(self, counts: dict[str, int]) -> None:
        pass


if __name__ == "__main__":
    raise SystemExit(OwnAddsOnly().run())
