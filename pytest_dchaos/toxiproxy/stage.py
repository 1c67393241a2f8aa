"""One toxic running on one link: a task between an input channel and an outlet.

A stage is what Toxiproxy calls a ToxicStub. It can be *interrupted* (its task cancelled and
awaited) so the link can rewire it while no chunk is in its hands: whatever chunk the toxic
had taken but not finished goes back to the front of its input, so no byte is lost or
reordered by adding, updating or removing toxics on a live connection.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from typing import Any

from .channel import Channel, Chunk, Outlet, wait_for_room
from .toxic_spec import ToxicSpec
from .toxics import noop

logger = logging.getLogger(__name__)


class Stage:
    """Runs ``toxic`` on the chunks of one link; toxics drive it through the methods below."""

    def __init__(
        self,
        toxic: ToxicSpec,
        output: Outlet,
        rng: random.Random,
        reset_connection: Callable[[], None],
    ) -> None:
        self.toxic = toxic
        self.input = Channel(toxic.kind.buffer_size)
        self.output = output
        self.rng = rng
        self.reset_connection = reset_connection
        #: Per-connection memory that survives updates (limit_data's byte count).
        self.state: dict[str, Any] = {}
        self.closed = False
        self.active = self._roll()
        self._task: asyncio.Task[None] | None = None
        self._holding = False
        self._held: Chunk | None = None

    def _roll(self) -> bool:
        """Whether this connection suffers the toxic: drawn once, when it attaches."""
        return self.rng.random() < self.toxic.toxicity

    # -- lifecycle, driven by the link -------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def update(self, toxic: ToxicSpec) -> None:
        """Take a new configuration (call while interrupted); the toxicity is drawn again."""
        self.toxic = toxic
        self.active = self._roll()

    async def interrupt(self) -> bool:
        """Stop the task with nothing in flight; False if the stage had already finished."""
        task = self._task
        if task is None or task.done():
            return False
        task.cancel()
        await asyncio.wait([task])
        return not self.closed

    def cancel(self) -> None:
        """Stop for good without waiting (the connection is gone)."""
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()

    async def _run(self) -> None:
        try:
            if self.active:
                await self.toxic.kind.pipe(self, self.toxic.attributes)
            else:
                await noop(self, self.toxic.attributes)
        except asyncio.CancelledError:
            # Interrupted: give back the unfinished chunk so the restarted (or the next)
            # stage picks up exactly where this one stopped.
            if self._holding:
                self.input.push_front(self._held)
                self._holding = False
                self._held = None
        except Exception:
            # A bug in a toxic must not leave the connection hanging half-alive.
            logger.exception("toxic %s (%s) failed", self.toxic.name, self.toxic.kind.name)
            self.reset_connection()

    # -- the toxic's side ------------------------------------------------------------------

    async def receive(self, timeout: float | None = None) -> Chunk | None:
        """The next chunk, or None at the end of the stream; raise TimedOut after ``timeout``."""
        item = await self.input.get(timeout)
        self._holding = True
        self._held = item
        return item

    async def emit(self, chunk: Chunk, remainder: Chunk | None = None) -> None:
        """Send ``chunk`` on, waiting for room; ``remainder`` is what is still to be sent."""
        output = self.output
        while not output.has_room():
            await wait_for_room(output)
            output = self.output  # the link may have rewired us meanwhile
        output.put(chunk)
        if remainder is None:
            self._holding = False
            self._held = None
        else:
            self._held = remainder

    def drop(self) -> None:
        """Forget the chunk in hand (the toxic swallowed it)."""
        self._holding = False
        self._held = None

    async def stall(self) -> None:
        """Keep the chunk in hand until interrupted."""
        await asyncio.get_running_loop().create_future()

    def close(self) -> None:
        """End the stream here: the outlet gets the end of stream, later input is dropped."""
        self.closed = True
        self.drop()
        self.input.discarding = True
        self.input.take_all()
        self.input.wake_room_waiters()
        self.output.put(None)
