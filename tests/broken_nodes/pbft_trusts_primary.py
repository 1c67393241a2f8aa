"""Broken PBFT replica: trusts the primary's pre-prepare.

Bug: a backup commits and executes a request as soon as it accepts the primary's
pre-prepare for it — the signature checks out, the digest matches, the request is its
client's — without waiting for 2f matching prepares and 2f+1 commits. It still sends its
prepare and commit and keeps prepared certificates, so the other replicas and view changes
work as ever. The reasoning of an implementer in a hurry: "only the primary orders
requests, and its signature proves the order is its own". What the three phases guard
against is a primary that tells different replicas different orders, and a signature does
not stop that. This replica also proposes one request per pre-prepare (no batching, as a
first implementation would), so two copies of a primary that hear clients in one order
propose the same thing at every sequence number.

So it passes the healthy scenarios and ``twins.yaml``: that twin hears clients in the
order its original does, and both copies tell one story. A twin that hears them in
another order (``cluster.twins: [{node: n1, sees: [n3, n4], reorder: 50ms}]``) tells its
side another story, and each side executes its own at the same sequence numbers. (It also
passes the crash, partition, slow-link and other Byzantine scenarios. The two that have its
primary equivocate do not show the bug: the ``equivocate`` behaviour reorders a batch, and
a batch of one request cannot be reordered, so no lie is told — which those scenarios'
``suspects`` and ``view_change`` checks, or ``expect: fail``, then report.)

Must be caught by: the agreement checker (honest replicas commit different requests at one
sequence number).
"""

from __future__ import annotations

from reference_nodes.common.maelstrom import JSON
from reference_nodes.pbft.node import Replica
from reference_nodes.pbft.ordering import Ordering


class TrustingOrdering(Ordering):
    def accept_preprepare(self, body: JSON) -> None:
        super().accept_preprepare(body)
        r = self.replica
        if body["replica"] != r.me:  # a backup: the primary's word is enough
            r.slots[body["seq"]].committed = True
            self.execute_ready()


class TrustsPrimaryReplica(Replica):
    def setup(self) -> None:
        super().setup()
        self.batch_size = self.pipeline_min = 1
        self.ordering.__class__ = TrustingOrdering


if __name__ == "__main__":
    raise SystemExit(TrustsPrimaryReplica().run())
