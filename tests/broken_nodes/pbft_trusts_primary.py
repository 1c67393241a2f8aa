"""Broken PBFT replica: trusts the primary's pre-prepare.

Bug: a replica commits a request as soon as it accepts the primary's pre-prepare for it —
the signature checks out, the digest matches, the request is its client's — without
waiting for 2f matching prepares and 2f+1 commits (it still sends its prepare and commit,
for the record). The reasoning of an implementer in a hurry: "only the primary orders
requests, and its signature proves the order is its own". What the three phases guard
against is a primary that tells different replicas different orders, and a signature does
not stop that. This replica also proposes one request per pre-prepare (no batching, as a
first implementation would), so two copies of a primary that hear clients in one order
propose the same thing at every sequence number.

So it passes the shipped scenarios, twins included: ``twins.yaml``'s twin hears clients
in the order its original does, and both copies tell one story. A twin that hears them in
another order (``cluster.twins: [{node: n1, sees: [n3, n4], reorder: 50ms}]``) tells its
side another story, and each side commits its own at the same sequence numbers.

Must be caught by: the agreement checker (honest replicas commit different requests at one
sequence number).
"""

from __future__ import annotations

from reference_nodes.pbft.node import Replica


class TrustsPrimaryReplica(Replica):
    def setup(self) -> None:
        super().setup()
        self.batch_size = self.pipeline_min = 1

    @property
    def prepare_quorum(self) -> int:
        return 0  # the pre-prepare alone prepares a slot

    @property
    def commit_quorum(self) -> int:
        return 1  # and the replica's own commit commits it


if __name__ == "__main__":
    raise SystemExit(TrustsPrimaryReplica().run())
