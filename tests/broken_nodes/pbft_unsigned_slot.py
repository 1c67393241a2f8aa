#!/usr/bin/env python3
"""Broken PBFT replica: its signatures do not cover the slot.

Bug: a pre-prepare, prepare or commit is signed over what it says (the digest, the
sender) but not over which slot it is for: its ``view`` and ``seq`` travel beside the
signature, unauthenticated. Every replica signs and checks the same way, so without a
lying replica nothing shows. A replica whose messages are changed on their way — a
sequence number moved by one — is not caught forging: its prepare for seq n, moved to
n+1, still verifies, and so does the primary's signature on n's pre-prepare it carries,
which now reads as the primary having pre-prepared n's batch at n+1 too. The honest
replicas suspect the honest primary of equivocating, and never the replica that lied.

Found by: a ``message: {mutate}`` fault (the ByzzFuzz-style mutation its agent makes);
no shipped scenario shows it, since every Byzantine behaviour there signs what it sends
(or, ``forge``, signs nothing right). Must be caught by: the suspects checker (the
mutating replica is never suspected).
"""

from __future__ import annotations

from typing import Any

from reference_nodes.pbft import authentication, crypto
from reference_nodes.pbft.node import Replica

#: The normal-case messages, whose slot is left out of what is signed.
SLOTTED = frozenset({authentication.PREPREPARE, authentication.PREPARE, authentication.COMMIT})


def signed_part(body: dict[str, Any]) -> bytes:
    left_out = crypto.UNSIGNED | ({"view", "seq"} if body.get("type") in SLOTTED else set())
    return crypto.canonical({k: v for k, v in body.items() if k not in left_out})


# Both the signing and the checking side read it from here.
crypto.signed_part = signed_part
authentication.signed_part = signed_part


if __name__ == "__main__":
    raise SystemExit(Replica().run())
