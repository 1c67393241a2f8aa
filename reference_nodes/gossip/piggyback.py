"""SWIM's infection-style dissemination: membership news rides on messages already sent.

Each membership change a node makes or hears is queued here and attached to the node's
next outgoing protocol messages (pings, acks, ping_reqs, gossip batches), freshest first,
at most ``λ·⌈log2(n+1)⌉`` times. With every node doing the same, news reaches the whole
cluster in O(log n) rounds with high probability while each message stays small and no
message is sent just for it; whatever still slips through is repaired by anti-entropy.
"""

from __future__ import annotations

import math
from collections.abc import Set as AbstractSet


class PiggybackQueue:
    """Members whose latest record is news, with how often each has been passed on."""

    def __init__(self, cluster_size: int, retransmit_mult: int) -> None:
        self.limit = retransmit_mult * max(1, math.ceil(math.log2(cluster_size + 1)))
        self._sent: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._sent)

    def __contains__(self, member: object) -> bool:
        return member in self._sent

    def add(self, member: str) -> None:
        """``member``'s record changed: pass it on afresh (a newer record resets the count)."""
        self._sent[member] = 0

    def take(self, count: int, skip: AbstractSet[str] = frozenset()) -> list[str]:
        """Up to ``count`` members to piggyback now, least-sent first; spends one send each."""
        if count <= 0 or not self._sent:
            return []
        chosen = sorted((m for m in self._sent if m not in skip), key=self._sent.__getitem__)
        chosen = chosen[:count]
        for member in chosen:
            sent = self._sent[member] + 1
            if sent >= self.limit:
                del self._sent[member]
            else:
                self._sent[member] = sent
        return chosen
