"""One direction of one proxied connection: source socket → toxic stages → destination socket.

With no toxics a link is a plain relay: each read is written to the destination at once, with
back-pressure from the destination pausing reads from the source. With toxics the reads enter
the first stage's input and travel stage by stage, in the order the toxics were added. Toxics
added, updated or removed through the API are applied to live links here, the way Toxiproxy's
ToxicLink does, so a running connection feels a new fault immediately.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from typing import Protocol

from .channel import Chunk, Outlet, put_all
from .stage import Stage
from .toxic_spec import ToxicSpec


class Source(Protocol):
    """The socket a link reads from; it is paused while the link cannot take more."""

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


class Destination(Outlet, Protocol):
    """The socket a link writes to; ``write`` is the fast path that skips making a Chunk."""

    def write(self, data: bytes) -> None: ...


class Link:
    def __init__(
        self,
        direction: str,
        source: Source,
        destination: Destination,
        toxics: Sequence[ToxicSpec],
        rng: random.Random,
        reset_connection: Callable[[], None],
    ) -> None:
        self.direction = direction
        self._source = source
        self._destination = destination
        self._rng = rng
        self._reset_connection = reset_connection
        self._loop = asyncio.get_running_loop()
        self._source_paused = False
        self._ended = False
        #: Set when the connection is torn down; rewiring then stops short.
        self.dead = False
        self.stages: list[Stage] = []
        outlet: Outlet = destination
        for toxic in reversed(toxics):
            stage = self._new_stage(toxic, outlet)
            self.stages.insert(0, stage)
            outlet = stage.input
        #: Where the source's reads go: the first stage's input, or the destination itself.
        self.entry: Outlet = outlet
        for stage in self.stages:
            stage.start()

    def _new_stage(self, toxic: ToxicSpec, output: Outlet) -> Stage:
        return Stage(toxic, output, self._rng, self._reset_connection)

    # -- data from the source socket -------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Take one read from the source socket."""
        entry = self.entry
        if self.stages:
            entry.put(Chunk(data, self._loop.time()))
        else:
            self._destination.write(data)
        if not self._source_paused and not entry.has_room():
            self._source_paused = True
            self._source.pause_reading()
            entry.when_room(self._on_room)

    def end_input(self) -> None:
        """The source reached end of stream (or went away); pass that along once."""
        if not self._ended:
            self._ended = True
            self.entry.put(None)

    def _on_room(self) -> None:
        """Resume the source once the entry it feeds (whichever it is by now) has room."""
        if not self._source_paused:
            return
        entry = self.entry
        if entry.has_room():
            self._source_paused = False
            self._source.resume_reading()
        else:
            entry.when_room(self._on_room)

    # -- live changes of the toxic chain ------------------------------------------------------

    def _find(self, name: str) -> int | None:
        for index, stage in enumerate(self.stages):
            if stage.toxic.name == name:
                return index
        return None

    async def add_toxic(self, toxic: ToxicSpec) -> None:
        """Append a stage for ``toxic`` at the end of the chain, next to the destination."""
        if not self.stages:
            stage = self._new_stage(toxic, self._destination)
            self.stages.append(stage)
            self.entry = stage.input
            stage.start()
            self._on_room()
            return
        last = self.stages[-1]
        if last.closed or not await last.interrupt() or self.dead:
            return  # the stream already ended here; the connection is on its way out
        stage = self._new_stage(toxic, last.output)
        last.output = stage.input
        self.stages.append(stage)
        stage.start()
        last.start()

    async def update_toxic(self, toxic: ToxicSpec) -> None:
        """Restart the toxic's stage with its new attributes (and a new toxicity draw)."""
        index = self._find(toxic.name)
        if index is None:
            return
        stage = self.stages[index]
        if await stage.interrupt() and not self.dead:
            stage.update(toxic)
            stage.start()

    async def remove_toxic(self, toxic: ToxicSpec) -> None:
        """Splice the toxic's stage out, handing on whatever it was holding, in order."""
        index = self._find(toxic.name)
        if index is None:
            return
        stage = self.stages[index]
        if not await stage.interrupt() or self.dead:
            return
        if toxic.kind.closes_on_removal:
            stage.close()
            return
        previous = self.stages[index - 1] if index > 0 else None
        previous_interrupted = previous is not None and await previous.interrupt()
        if self.dead:
            return
        put_all(stage.output, stage.input.take_all())
        if previous is None:
            self.entry = stage.output
        else:
            previous.output = stage.output
        self.stages.remove(stage)
        stage.input.discarding = True
        # Whoever waited for room in the removed input re-checks against its new outlet.
        stage.input.wake_room_waiters()
        if previous is not None and previous_interrupted:
            previous.start()
        self._on_room()

    def cancel(self) -> None:
        """Tear down: stop every stage without waiting."""
        self.dead = True
        for stage in self.stages:
            stage.cancel()
