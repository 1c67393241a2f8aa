"""A proxied connection: the client's socket, the upstream socket, and a link each way.

Each socket is an :class:`Endpoint`, an asyncio protocol that is at once the *source* of one
link and the *destination* of the other. Ends of stream propagate the way Toxiproxy's do: when
a link's stream ends, its destination socket is closed outright (not half-closed), which ends
the other link's source, so one side hanging up closes the whole connection once the data
already in flight has been delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections.abc import Callable, Sequence
from typing import cast

from .addresses import split_host_port
from .channel import Chunk, RoomCallback
from .link import Link
from .toxic_spec import DOWNSTREAM, UPSTREAM, ToxicSpec

_LINGER_RESET = struct.pack("ii", 1, 0)


class Endpoint(asyncio.Protocol):
    """One TCP socket of a connection, seen from the proxy."""

    def __init__(self, on_made: Callable[[Endpoint], None] | None = None) -> None:
        self._on_made = on_made
        self._on_lost: Callable[[Endpoint], None] | None = None
        self.transport: asyncio.Transport | None = None
        #: The link this socket feeds (set once the connection is wired up).
        self.link: Link | None = None
        self.reading_ended = False
        self.lost = False
        self._closing = False
        self._write_paused = False
        self._room_callbacks: list[RoomCallback] = []
        self._early: list[bytes] = []

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if self._on_made is not None:
            self._on_made(self)

    def data_received(self, data: bytes) -> None:
        link = self.link
        if link is not None:
            link.feed(data)
        else:
            # Not wired up yet: an upstream that speaks first can beat the end of the dial,
            # and before Python 3.10 the client's pause during the dial does not stick.
            # Keep these bytes for the link.
            self._early.append(data)

    def eof_received(self) -> bool:
        self._end_reading()
        return True  # keep the socket open: the other direction may still be writing to it

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._end_reading()
        self._write_paused = False
        self._wake_room_waiters()
        if self._on_lost is not None:
            self._on_lost(self)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_room_waiters()

    # -- as the source of a link -----------------------------------------------------------

    def pause_reading(self) -> None:
        if self.transport is not None and not self._closing and not self.lost:
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self.transport is not None and not self._closing and not self.lost:
            self.transport.resume_reading()

    # -- as the destination of a link ------------------------------------------------------

    def has_room(self) -> bool:
        return not self._write_paused

    def put(self, item: Chunk | None) -> None:
        if item is None:
            self.close()
        else:
            self.write(item.data)

    def write(self, data: bytes | memoryview) -> None:
        if not self._closing and not self.lost and self.transport is not None:
            self.transport.write(data)

    def when_room(self, callback: RoomCallback) -> None:
        if self.has_room():
            callback()
        else:
            self._room_callbacks.append(callback)

    def _wake_room_waiters(self) -> None:
        callbacks, self._room_callbacks = self._room_callbacks, []
        for callback in callbacks:
            callback()

    # -- lifecycle -------------------------------------------------------------------------

    def attach(self, link: Link) -> None:
        """Start feeding ``link``, beginning with anything read before it existed."""
        self.link = link
        early, self._early = self._early, []
        for data in early:
            link.feed(data)
        if self.reading_ended:
            link.end_input()

    def watch(self, on_lost: Callable[[Endpoint], None]) -> None:
        self._on_lost = on_lost
        if self.lost:
            on_lost(self)

    def close(self) -> None:
        """Close after flushing what is queued (a link's stream ended)."""
        if not self._closing:
            self._closing = True
            if self.transport is not None:
                self.transport.close()
        self._end_reading()

    def abort(self, *, reset: bool = False) -> None:
        """Close now, dropping queued data; with ``reset`` the peer gets a TCP RST."""
        self._closing = True
        transport = self.transport
        if transport is not None and not self.lost:
            if reset:
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            transport.abort()
        self._end_reading()

    def _end_reading(self) -> None:
        if not self.reading_ended:
            self.reading_ended = True
            if self.link is not None:
                self.link.end_input()


class Connection:
    """A client connection accepted by a proxy, and the upstream connection made for it."""

    def __init__(
        self,
        client: Endpoint,
        upstream_address: str,
        toxics: Callable[[str], Sequence[ToxicSpec]],
        rng: random.Random,
        on_finished: Callable[[Connection], None],
    ) -> None:
        self.client = client
        self.upstream: Endpoint | None = None
        self.links: dict[str, Link] = {}
        self._upstream_address = upstream_address
        self._toxics = toxics
        self._rng = rng
        self._on_finished = on_finished
        self._aborted = False
        self._finished = False
        client.pause_reading()  # until there is an upstream to send to
        client.watch(self._endpoint_lost)
        self._dial = asyncio.get_running_loop().create_task(self._open())

    async def _open(self) -> None:
        """Dial the upstream; as in Toxiproxy, a failed dial just closes the client."""
        loop = asyncio.get_running_loop()
        try:
            host, port = split_host_port(self._upstream_address)
            # An empty host dials the local machine, as Go's net.Dial(":port") does.
            _, upstream = await loop.create_connection(Endpoint, host or None, port)  # type: ignore[arg-type]
        except (OSError, ValueError):  # AddressError is a ValueError
            self.client.close()
            return
        if self._aborted or self.client.lost:
            upstream.abort()
            upstream.watch(self._endpoint_lost)
            return
        self.upstream = upstream
        self.links = {
            UPSTREAM: Link(
                UPSTREAM, self.client, upstream, self._toxics(UPSTREAM), self._rng, self.reset
            ),
            DOWNSTREAM: Link(
                DOWNSTREAM, upstream, self.client, self._toxics(DOWNSTREAM), self._rng, self.reset
            ),
        }
        self.client.attach(self.links[UPSTREAM])
        upstream.attach(self.links[DOWNSTREAM])
        upstream.watch(self._endpoint_lost)
        self.client.resume_reading()

    def live_link(self, direction: str) -> Link | None:
        """The link to apply toxic changes to, unless the connection is going away."""
        link = self.links.get(direction)
        return None if link is None or link.dead or self._aborted else link

    def abort(self, *, reset: bool = False) -> None:
        """Close both sockets now (a proxy being disabled, or a reset_peer toxic firing)."""
        self._aborted = True
        if not self._dial.done() and self._dial is not asyncio.current_task():
            self._dial.cancel()
        for link in self.links.values():
            link.cancel()
        self.client.abort(reset=reset)
        if self.upstream is not None:
            self.upstream.abort(reset=reset)

    def reset(self) -> None:
        self.abort(reset=True)

    def _endpoint_lost(self, endpoint: Endpoint) -> None:
        if self._finished or not self.client.lost:
            return
        if self.upstream is not None and not self.upstream.lost:
            return
        if self.upstream is None and not self._dial.done():
            self._dial.cancel()
        self._finished = True
        for link in self.links.values():
            link.cancel()
        self._on_finished(self)
