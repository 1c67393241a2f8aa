#!/usr/bin/env python3
"""Broken PBFT replica: blames the messenger.

Bug: when a prepare or commit names another digest than the pre-prepare this replica got,
it suspects the replica that sent the prepare — without looking at the primary's
signature the prepare carries, which would show that the primary told two stories. With
an equivocating primary, honest backups end up suspecting each other.

Must be caught by: the suspects checker (an honest replica suspected).
"""

from __future__ import annotations

from reference_nodes.common.maelstrom import JSON
from reference_nodes.pbft.node import Replica, Slot


class BlamesMessengerReplica(Replica):
    def judge_conflict(self, sender: str, body: JSON, slot: Slot) -> None:
        self.suspect(sender, "bad_digest", f"{body['type']} for seq {body['seq']} names "
                     "another digest than my pre-prepare")


if __name__ == "__main__":
    raise SystemExit(BlamesMessengerReplica().run())
