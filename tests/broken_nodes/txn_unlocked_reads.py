#!/usr/bin/env python3
"""Broken transaction node: reads take no locks, and its state shows nothing amiss.

Bug: "a read only ever sees committed data, so it needs no lock". A participant answers a
read at once with the key's committed value and takes no shared lock. Writes still lock,
every transaction still commits by two-phase commit, every decision is logged and agreed,
and no aborted or uncommitted value is ever read. But a transaction's reads no longer hold
still: two transactions read the same version of a key and both overwrite it (a lost
update), or one sees a concurrent transaction's write on one key and not on another (read
skew, G-single).

Its ``dchaos_state`` is the contract's minimum — ``decisions``, ``locks``, ``wal_len`` — and
clean: every participant decides alike, nothing stays pending. It lists no versions, so
nothing a node says hints at the bug.

Must be caught by: the isolation check, from the client history alone (lost update,
G-single, G2). atomicity and txn_outcomes pass it: nothing aborted is read, nothing
acknowledged is lost.
"""

from __future__ import annotations

from reference_nodes.common.maelstrom import Message
from reference_nodes.txn.locks import SHARED
from reference_nodes.txn.node import JSON, Part, TxnNode


class UnlockedReadsNode(TxnNode):
    async def lock(self, part: Part, key: int, mode: str) -> None:
        if mode == SHARED:
            self.still_running(part)  # the bug: a read waits for nobody, holds off nobody
            return
        await super().lock(part, key, mode)

    def on_dchaos_state(self, msg: Message) -> JSON:
        state = super().on_dchaos_state(msg)
        return {k: state[k] for k in ("type", "decisions", "locks", "wal_len")}


if __name__ == "__main__":
    raise SystemExit(UnlockedReadsNode().run())
