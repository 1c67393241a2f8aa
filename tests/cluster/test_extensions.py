"""What a node offers beyond Maelstrom's protocol, read from its init_ok."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_dchaos.cluster.extensions import offered


@pytest.mark.parametrize(("init_ok", "expected"), [
    ({"type": "init_ok"}, set()),
    ({"type": "init_ok", "dchaos": {"extensions": ["members", "dchaos_state"]}},
     {"members", "dchaos_state"}),
    ({"type": "init_ok", "dchaos": {"extensions": ["dchaos_byzantine", "teleport", 3]}},
     {"dchaos_byzantine"}),
    ({"type": "init_ok", "dchaos": {"extensions": "members"}}, set()),
    ({"type": "init_ok", "dchaos": ["members"]}, set()),
])
def test_a_node_offers_exactly_the_known_extensions_it_lists(init_ok: dict[str, Any],
                                                             expected: set[str]) -> None:
    assert offered(init_ok) == expected
