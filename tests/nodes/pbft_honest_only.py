#!/usr/bin/env python3
"""A correct PBFT replica that cannot be switched Byzantine: the reference replica, with
``dchaos_byzantine`` left out of the extensions its ``init_ok`` lists — like most nodes
nobody here wrote. The harness sends it no ``dchaos_byzantine``; a scenario that asks for
one gets a refusal (``FaultRefused``), and an exploration goes on without them."""

from __future__ import annotations

from reference_nodes.pbft.node import Replica


class HonestOnlyReplica(Replica):
    def setup(self) -> None:
        super().setup()
        self.runtime.extensions = tuple(
            e for e in self.runtime.extensions if e != "dchaos_byzantine")


if __name__ == "__main__":
    raise SystemExit(HonestOnlyReplica().run())
