#!/usr/bin/env python3
"""Broken coordinator: it tells the participants "commit" before its decision is in its log.

Bug: once every participant has voted yes, the coordinator sends ``decide commit`` at once
and forces its decision to its log only after every participant has acknowledged it ("they
have it on their disks, ours is only bookkeeping"); the client hears after that. A crash
inside that window — a few milliseconds per transaction — leaves a log with the
transaction's start and no decision: on restart the coordinator presumes abort, while the
participants have committed. No shipped scenario kills a coordinator while its decisions
are in flight, so it passes them all.

Must be caught by: atomicity (the restarted coordinator reports aborted what its
participants committed), found by ``dchaos explore`` from the healthy 2PC scenario with a
fault aimed at the coordinator (``kill: leader``).
"""

from __future__ import annotations

import asyncio

from reference_nodes.txn.node import COMMIT, Coord, TxnNode, with_request


class DecidesBeforeLoggingNode(TxnNode):
    async def decide(self, coord: Coord, decision: str) -> None:
        if decision != COMMIT or coord.decision is not None:
            await super().decide(coord, decision)
            return
        coord.decision = decision
        self.decisions[coord.txn] = decision
        coord.telling = True
        waiting = set(coord.participants)
        while waiting:  # the bug: the participants hear before the log has it
            replies = await asyncio.gather(*(
                self.runtime.request(p, {"type": "decide", "txn": coord.txn, "d": decision},
                                     self.timeout)
                for p in sorted(waiting)), return_exceptions=True)
            for p, reply in zip(sorted(waiting), replies, strict=True):
                if not isinstance(reply, BaseException):
                    waiting.discard(p)
            if waiting:
                await asyncio.sleep(self.retry)
        await self.wal.force(with_request({"r": "c_decide", "txn": coord.txn, "d": decision,
                                           "parts": coord.participants}, coord.request))
        self.wal.append({"r": "c_end", "txn": coord.txn})
        self.coords.pop(coord.txn, None)


if __name__ == "__main__":
    raise SystemExit(DecidesBeforeLoggingNode().run())
