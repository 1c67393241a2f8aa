"""A proxy: a named listener whose connections are relayed to an upstream through toxics.

The proxy owns the toxic chains (one per direction, in the order toxics were added) and the
set of live connections, and it applies every change of a chain to those connections too.
Starting and stopping follow Toxiproxy: disabling closes the listener and every connection;
enabling listens again on the address it had; a new listen or upstream address restarts it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from .addresses import AddressError, canonical_address, format_sockname, open_listener
from .connection import Connection, Endpoint
from .errors import TOXIC_NOT_FOUND, ApiError
from .link import Link
from .toxic_spec import DIRECTIONS, ToxicSpec, parse_toxic, update_toxic

#: Pending connections the kernel queues per proxy before refusing more.
LISTEN_BACKLOG = 511


class ProxyAlreadyStarted(ApiError):
    def __init__(self) -> None:
        super().__init__("Proxy already started", 500)


class Proxy:
    def __init__(self, name: str, listen: str, upstream: str, rng: random.Random) -> None:
        self.name = name
        #: What was asked for until the proxy first listens; the bound address from then on.
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.connections: set[Connection] = set()
        self._rng = rng
        self._chains: dict[str, list[ToxicSpec]] = {direction: [] for direction in DIRECTIONS}
        self._server: asyncio.AbstractServer | None = None
        # Accepts that race with a stop carry an old generation and are dropped.
        self._generation = 0
        self._lifecycle_lock: asyncio.Lock | None = None
        self._toxics_lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        state = "enabled" if self.enabled else "disabled"
        return f"<Proxy {self.name} {self.listen} -> {self.upstream} {state}>"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "toxics": [toxic.to_json() for toxic in self.toxics],
        }

    @property
    def toxics(self) -> list[ToxicSpec]:
        """Every toxic, upstream ones first, each direction in the order they were added."""
        return [toxic for direction in DIRECTIONS for toxic in self._chains[direction]]

    def get_toxic(self, name: str) -> ToxicSpec | None:
        for toxic in self.toxics:
            if toxic.name == name:
                return toxic
        return None

    # Locks are made on first use so a Proxy can be built outside a running loop.
    @property
    def _lifecycle(self) -> asyncio.Lock:
        if self._lifecycle_lock is None:
            self._lifecycle_lock = asyncio.Lock()
        return self._lifecycle_lock

    @property
    def _toxics_guard(self) -> asyncio.Lock:
        if self._toxics_lock is None:
            self._toxics_lock = asyncio.Lock()
        return self._toxics_lock

    # -- listening ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen; ApiError 500 if the address is taken, ProxyAlreadyStarted if listening."""
        async with self._lifecycle:
            await self._start()

    async def stop(self) -> None:
        async with self._lifecycle:
            self._stop()

    def differs(self, listen: str, upstream: str) -> bool:
        """Whether ``listen``/``upstream`` name a different proxy than this one (Go's rule)."""
        try:
            resolved = canonical_address(listen)
        except AddressError as exc:
            raise ApiError(str(exc), 500) from None
        return resolved != self.listen or upstream != self.upstream

    async def update(self, listen: str, upstream: str, enabled: bool) -> None:
        """Apply an update exactly as Toxiproxy's ``Proxy.Update`` does."""
        async with self._lifecycle:
            if self.differs(listen, upstream):
                self._stop()
                self.listen = listen
                self.upstream = upstream
            if enabled != self.enabled:
                if enabled:
                    await self._start()
                else:
                    self._stop()

    async def _start(self) -> None:
        if self.enabled:
            raise ProxyAlreadyStarted
        try:
            sock = open_listener(self.listen, LISTEN_BACKLOG)
        except AddressError as exc:
            raise ApiError(str(exc), 500) from None
        self._generation += 1
        factory = partial(Endpoint, partial(self._accepted, self._generation))
        try:
            self._server = await asyncio.get_running_loop().create_server(
                factory, sock=sock, backlog=LISTEN_BACKLOG
            )
        except BaseException:
            sock.close()
            raise
        self.listen = format_sockname(sock.getsockname())
        self.enabled = True

    def _stop(self) -> None:
        if not self.enabled:
            return
        self.enabled = False
        self._generation += 1
        if self._server is not None:
            self._server.close()
            self._server = None
        for connection in list(self.connections):
            connection.abort()

    def _accepted(self, generation: int, client: Endpoint) -> None:
        if generation != self._generation:
            client.abort()
            return
        connection = Connection(
            client, self.upstream, self._chain, self._rng, self.connections.discard
        )
        self.connections.add(connection)

    def _chain(self, direction: str) -> tuple[ToxicSpec, ...]:
        return tuple(self._chains[direction])

    # -- toxics ------------------------------------------------------------------------------

    async def add_toxic(self, body: Any) -> ToxicSpec:
        """Create a toxic from a request body and attach it to every live connection."""
        async with self._toxics_guard:
            toxic = parse_toxic(body, lambda name: self.get_toxic(name) is not None)
            self._chains[toxic.direction].append(toxic)
            await self._on_live_links(toxic.direction, lambda link: link.add_toxic(toxic))
            return toxic

    async def update_toxic(self, name: str, body: Any) -> ToxicSpec:
        async with self._toxics_guard:
            old = self.get_toxic(name)
            if old is None:
                raise TOXIC_NOT_FOUND
            new = update_toxic(old, body)
            chain = self._chains[old.direction]
            chain[_index_of(chain, old)] = new
            await self._on_live_links(new.direction, lambda link: link.update_toxic(new))
            return new

    async def remove_toxic(self, name: str) -> None:
        async with self._toxics_guard:
            toxic = self.get_toxic(name)
            if toxic is None:
                raise TOXIC_NOT_FOUND
            await self._remove(toxic)

    async def reset_toxics(self) -> None:
        async with self._toxics_guard:
            for toxic in self.toxics:
                await self._remove(toxic)

    async def _remove(self, toxic: ToxicSpec) -> None:
        chain = self._chains[toxic.direction]
        del chain[_index_of(chain, toxic)]
        await self._on_live_links(toxic.direction, lambda link: link.remove_toxic(toxic))

    async def _on_live_links(
        self, direction: str, change: Callable[[Link], Awaitable[None]]
    ) -> None:
        """Apply ``change`` to the ``direction`` link of every live connection, concurrently.

        Connections accepted meanwhile already got the new chain when they were wired up.
        """
        links = [
            link
            for connection in list(self.connections)
            if (link := connection.live_link(direction)) is not None
        ]
        if links:
            await asyncio.gather(*(change(link) for link in links))


def _index_of(chain: list[ToxicSpec], toxic: ToxicSpec) -> int:
    for index, candidate in enumerate(chain):
        if candidate is toxic:
            return index
    raise ValueError(f"toxic {toxic.name} is not in its chain")
