#!/usr/bin/env python3
"""Broken coordinator: it tells the participants "commit" before its decision is in its log.

Bug: to save flushes, the coordinator writes its commit decisions to its log in a batch,
every half second, and meanwhile sends ``decide commit`` to the participants and answers the
client at once ("the participants log it themselves; ours is only bookkeeping"). While the
coordinator is up it behaves exactly like a correct one. A crash while a decision waits for
its batch leaves a log with the transaction's start and no decision: on restart the
coordinator presumes abort, while the participants have committed and the client was told
so. The healthy scenarios have no crash and pass it; the ones that kill a node under load
(``participant-crash``, ``*-crash-after-decision``) catch it, since the window is wide.

Must be caught by: atomicity (the restarted coordinator reports aborted what its
participants committed), found by ``dchaos explore`` from the healthy 2PC scenario, whose
faults are none, with a crash of a coordinator (``kill: leader``, or a ``kill`` that
happens to hit one): in nearly every run whose crash falls on one with traffic.
"""

from __future__ import annotations

import asyncio

from reference_nodes.txn.node import COMMIT, Coord, TxnNode, with_request

#: How often the batch of decisions is written (seconds).
BATCH = 0.5


class DecidesBeforeLoggingNode(TxnNode):
    async def decide(self, coord: Coord, decision: str) -> None:
        if decision != COMMIT or coord.decision is not None:
            await super().decide(coord, decision)
            return
        coord.decision = decision
        self.decisions[coord.txn] = decision
        coord.telling = True
        self.runtime.spawn(self.tell_then_log(coord))

    async def tell_then_log(self, coord: Coord) -> None:
        logged = asyncio.ensure_future(self.log_in_next_batch(coord))
        await self.deliver(coord)  # the bug: the participants hear before the log has it
        await logged
        self.wal.append({"r": "c_end", "txn": coord.txn})
        self.coords.pop(coord.txn, None)

    async def log_in_next_batch(self, coord: Coord) -> None:
        await asyncio.sleep(BATCH - asyncio.get_running_loop().time() % BATCH)
        await self.wal.force(with_request({"r": "c_decide", "txn": coord.txn,
                                           "d": coord.decision,
                                           "parts": coord.participants}, coord.request))


if __name__ == "__main__":
    raise SystemExit(DecidesBeforeLoggingNode().run())
