"""The extension messages a node may answer beyond Maelstrom's protocol, and how it says so.

A node lists them in its ``init_ok``: ``{"type": "init_ok", "dchaos": {"extensions":
["members", "dchaos_state", "dchaos_byzantine"]}}`` (any subset). The harness sends a node
none it did not list: many nodes written for Maelstrom alone die on a message type they do
not know, and a check that needs what a node does not offer is not applicable to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

#: ``members`` → ``members_ok {members, incarnation}`` (the gossip family's view).
MEMBERS: Final = "members"
#: ``dchaos_state`` → ``dchaos_state_ok {...}``: what a node reports about itself.
STATE: Final = "dchaos_state"
#: ``dchaos_byzantine {behavior}`` → ``dchaos_byzantine_ok``: turn Byzantine.
BYZANTINE: Final = "dchaos_byzantine"
EXTENSIONS: Final = (MEMBERS, STATE, BYZANTINE)


def offered(init_ok: Mapping[str, Any]) -> frozenset[str]:
    """The extensions an ``init_ok`` lists; anything malformed lists none."""
    dchaos = init_ok.get("dchaos")
    listed = dchaos.get("extensions") if isinstance(dchaos, Mapping) else None
    if not isinstance(listed, list):
        return frozenset()
    return frozenset(e for e in listed if isinstance(e, str) and e in EXTENSIONS)
