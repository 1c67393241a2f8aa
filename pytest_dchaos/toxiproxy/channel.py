"""Chunks and the bounded FIFOs that carry them between the toxics of a link.

A link is a pipeline: source socket → toxic → toxic → destination socket. Each hop is an
*outlet*: something a producer can ``put`` into, ask ``has_room`` of, and ask to be told
``when_room`` frees up. Channels are the outlets between toxics; the destination socket is the
last one. Capacity gives back-pressure (a stalled toxic eventually stops the reads from the
source socket, as Toxiproxy's Go channels do) without ever blocking the event loop, and the
end of the stream travels through the same path as ``None`` so it never overtakes data.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

RoomCallback = Callable[[], None]


class Chunk:
    """Bytes read from a socket in one go, with the loop time they arrived at.

    ``arrived`` is what the latency toxic measures from, so a chunk that waited behind another
    is not delayed twice; a latency toxic moves it forward to when the chunk left it.
    """

    __slots__ = ("arrived", "data")

    def __init__(self, data: bytes | memoryview, arrived: float) -> None:
        self.data = data
        self.arrived = arrived

    def __repr__(self) -> str:
        return f"Chunk({len(self.data)} bytes @ {self.arrived:.3f})"


class Outlet(Protocol):
    """Where a stage of a link sends its output: the next stage's input or a socket."""

    def has_room(self) -> bool:
        """Whether a ``put`` now stays within capacity (a full outlet still accepts one)."""

    def put(self, item: Chunk | None) -> None:
        """Accept a chunk, or ``None`` for the end of the stream; never blocks."""

    def when_room(self, callback: RoomCallback) -> None:
        """Call ``callback`` once, the next time room frees up (or the outlet goes away)."""


class TimedOut(Exception):
    """``Channel.get`` waited for its timeout without an item arriving."""


class Channel:
    """A bounded FIFO with a single consumer, the input of one stage."""

    __slots__ = ("_getter", "_items", "_room_callbacks", "capacity", "discarding")

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._items: deque[Chunk | None] = deque()
        self._getter: asyncio.Future[None] | None = None
        self._room_callbacks: list[RoomCallback] = []
        # A closed stage stops consuming; dropping what still arrives keeps producers moving.
        self.discarding = False

    def __len__(self) -> int:
        return len(self._items)

    def has_room(self) -> bool:
        return self.discarding or len(self._items) < self.capacity

    def put(self, item: Chunk | None) -> None:
        if self.discarding:
            return
        self._items.append(item)
        getter = self._getter
        if getter is not None and not getter.done():
            getter.set_result(None)

    def push_front(self, item: Chunk | None) -> None:
        """Give back an item the consumer took but did not finish (it was interrupted)."""
        if not self.discarding:
            self._items.appendleft(item)

    def when_room(self, callback: RoomCallback) -> None:
        if self.has_room():
            callback()
        else:
            self._room_callbacks.append(callback)

    async def get(self, timeout: float | None = None) -> Chunk | None:
        """The next item; raise TimedOut if ``timeout`` seconds pass with none."""
        if not self._items:
            loop = asyncio.get_running_loop()
            getter = loop.create_future()
            self._getter = getter
            timer = None if timeout is None else loop.call_later(timeout, _wake, getter)
            try:
                await getter
            finally:
                self._getter = None
                if timer is not None:
                    timer.cancel()
            if not self._items:
                raise TimedOut
        item = self._items.popleft()
        if self._room_callbacks and len(self._items) < self.capacity:
            self.wake_room_waiters()
        return item

    def take_all(self) -> list[Chunk | None]:
        """Empty the channel, for splicing a removed stage out of a link."""
        items = list(self._items)
        self._items.clear()
        return items

    def wake_room_waiters(self) -> None:
        """Run every pending room callback; each re-checks where it should wait next."""
        callbacks, self._room_callbacks = self._room_callbacks, []
        for callback in callbacks:
            callback()


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def put_all(outlet: Outlet, items: Iterable[Chunk | None]) -> None:
    """Put ``items`` in order, ignoring capacity, stopping after the end of the stream."""
    for item in items:
        outlet.put(item)
        if item is None:
            return


async def wait_for_room(outlet: Outlet) -> None:
    """Wait until ``outlet`` has room (returns at once if it has)."""
    if outlet.has_room():
        return
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    outlet.when_room(lambda: _wake(future))
    await future
