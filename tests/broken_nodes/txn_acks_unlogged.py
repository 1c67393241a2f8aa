#!/usr/bin/env python3
"""Broken coordinator: it answers "committed" before its decision is in its log.

Bug: once every participant has voted yes, the client gets ``txn_ok`` at once; the
coordinator writes its commit decision to the log in the background, in batches every
200 ms ("the votes are in, the outcome is certain"), and tells the participants only once
it is written. A crash inside that window loses a decision the client was told: on restart
the log holds the transaction's start and no decision, so the coordinator presumes abort
and the participants, prepared and waiting, abort it too. Every node then agrees — on the
wrong outcome.

Its state is the contract's (``decisions``, ``locks``, ``wal_len``) plus the ``txns`` ties,
and no ``versions``: no reported write shows what was lost, and no two nodes disagree.

Must be caught by: the atomicity checker (a node reports aborted a transaction whose
client was told it committed), through the ties alone.
"""

from __future__ import annotations

import asyncio

from reference_nodes.common.maelstrom import Message
from reference_nodes.txn.node import ABORT, COMMIT, JSON, Coord, TxnNode

BATCH = 0.2


class UnloggedAckNode(TxnNode):
    async def commit(self, coord: Coord) -> str:
        if self.one_phase and len(coord.participants) == 1:
            return await super().commit(coord)  # the participant decides: no log here
        self.wal.append({"r": "c_begin", "txn": coord.txn, "parts": coord.participants,
                         **({"req": coord.request} if coord.request else {})})
        coord.state = "prepared"
        votes = await self.gather(coord, {p: {"type": "prepare", "txn": coord.txn}
                                          for p in coord.participants}, self.timeout)
        if any(v["vote"] != COMMIT for v in votes.values()):
            await self.decide(coord, ABORT)
            return ABORT

        async def log_later() -> None:
            await asyncio.sleep(BATCH)  # the bug: the client has its answer already
            await self.decide(coord, COMMIT)

        self.runtime.spawn(log_later())
        return COMMIT

    def on_dchaos_state(self, msg: Message) -> JSON:
        full = super().on_dchaos_state(msg)
        return {k: full[k] for k in ("type", "decisions", "locks", "wal_len", "txns")}


if __name__ == "__main__":
    raise SystemExit(UnloggedAckNode().run())
