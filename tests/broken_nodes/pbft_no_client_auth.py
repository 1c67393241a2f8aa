#!/usr/bin/env python3
"""Broken PBFT replica: does not check the clients' MAC authenticators.

Bug: requests are taken as the clients' own without checking their authenticators — the
replica trusts that whoever put a request in a pre-prepare got it from its client. A
Byzantine primary can then have any request it likes committed in any client's name.

Must be caught by: the validity checker (a committed request no client sent).
"""

from __future__ import annotations

from typing import Any

from reference_nodes.pbft.crypto import Keys
from reference_nodes.pbft.node import Replica


class TrustingKeys(Keys):
    def authentic_request(self, request: dict[str, Any]) -> bool:
        return True


class NoClientAuthReplica(Replica):
    def setup(self) -> None:
        super().setup()
        self.keys.__class__ = TrustingKeys


if __name__ == "__main__":
    raise SystemExit(NoClientAuthReplica().run())
