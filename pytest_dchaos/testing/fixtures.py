"""pytest fixtures for unit-testing a node; the ``dchaos`` pytest plugin registers them.

``dchaos_router`` starts node processes wired by the in-memory :class:`Router` and stops
them after the test::

    def test_reads_what_was_broadcast(dchaos_router):
        router = dchaos_router("./my-node", nodes=2, topology={"n1": ["n2"], "n2": ["n1"]})
        router.broadcast("n1", 7)

        def arrived():
            assert 7 in router.read("n2")

        eventually(arrived, timeout=5)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest

from pytest_dchaos.testing.commands import command_words, node_ids
from pytest_dchaos.testing.router import Router


class RouterFactory(Protocol):
    def __call__(self, command: str | Sequence[str], nodes: int | Sequence[str] = 3, *,
                 start: bool = True, **options: Any) -> Router: ...


@pytest.fixture
def dchaos_router(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RouterFactory]:
    """``dchaos_router(command, nodes=3, *, start=True, **options)`` → a :class:`Router`
    over ``nodes`` (a count, or a list of ids), started and set up unless ``start`` is
    false. ``options`` are the Router's (``params``, ``topology``, ``latency``,
    ``init_extra``, ``env``, ``on_message``, ``init_timeout``). Relative paths in
    ``command`` are from the folder pytest was started in; the nodes' folders and logs are
    under the test's ``tmp_path``. Every router is closed after the test."""
    routers: list[Router] = []
    folder = request.config.invocation_params.dir

    def make(command: str | Sequence[str], nodes: int | Sequence[str] = 3, *,
             start: bool = True, **options: Any) -> Router:
        log_dir = tmp_path / f"router{len(routers) + 1}"
        router = Router(node_ids(nodes), command_words(command, folder), log_dir=log_dir,
                        **options)
        routers.append(router)
        return router.start() if start else router

    yield make
    for router in routers:
        router.close()
