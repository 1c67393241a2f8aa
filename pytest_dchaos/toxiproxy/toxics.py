"""What each toxic type does to the bytes of one link: the registry of toxic kinds.

Every kind is a coroutine that runs as a :class:`~.stage.Stage` of a link, taking chunks from
the stage's input and emitting (or withholding) them, with Toxiproxy 2.12.0's semantics. The
stage keeps track of the chunk a toxic is working on, so a toxic interrupted by an update or a
removal never loses bytes; toxics therefore stay simple loops with no cleanup of their own.
Durations in attributes are milliseconds except the slicer's ``delay`` (microseconds), and
``rate`` is KB/s with 1 KB = 1000 bytes, all as in Toxiproxy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .channel import Chunk, TimedOut

if TYPE_CHECKING:
    from .stage import Stage

ToxicPipe = Callable[["Stage", Mapping[str, int]], Awaitable[None]]


@dataclass(frozen=True)
class ToxicKind:
    """A toxic type: its attributes (all integers, default 0) and its behaviour."""

    name: str
    attributes: tuple[str, ...]
    pipe: ToxicPipe
    #: Chunks its input holds before the source is paused (latency needs room to pipeline).
    buffer_size: int = 4
    #: Removing it closes the connection instead of letting the withheld stream resume.
    closes_on_removal: bool = False
    #: The Go struct name, for error messages that match Toxiproxy's.
    go_struct: str = "Toxic"


async def noop(stage: Stage, attributes: Mapping[str, int]) -> None:
    """Pass everything through; also what a toxic does on a connection its toxicity spared."""
    while True:
        chunk = await stage.receive()
        if chunk is None:
            stage.close()
            return
        await stage.emit(chunk)


async def latency(stage: Stage, attributes: Mapping[str, int]) -> None:
    """Delay each chunk by ``latency`` ± ``jitter`` ms, counted from when it arrived.

    One chunk is handled at a time, so chunks leave in the order they came even when jitter
    draws a shorter delay for a later one; since the delay counts from arrival, chunks that
    queued behind a slow one are not delayed again (the delays pipeline, as in Toxiproxy).
    """
    base = attributes["latency"]
    jitter = attributes["jitter"]
    loop = asyncio.get_running_loop()
    while True:
        chunk = await stage.receive()
        if chunk is None:
            stage.close()
            return
        delay = base + (stage.rng.randrange(-jitter, jitter) if jitter > 0 else 0)
        due = chunk.arrived + delay / 1000.0
        wait = due - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        # The next latency toxic in the chain counts from when this one released the chunk.
        await stage.emit(Chunk(chunk.data, due) if due > chunk.arrived else chunk)


async def bandwidth(stage: Stage, attributes: Mapping[str, int]) -> None:
    """Let at most ``rate`` KB/s through; rate 0 (or less) holds the data back entirely.

    A chunk larger than 100 ms worth of bytes is released in 100 ms pieces so the receiver
    sees a steady trickle rather than one late burst, as Toxiproxy does.
    """
    rate = attributes["rate"]
    if rate <= 0:
        while True:
            chunk = await stage.receive()
            if chunk is None:
                stage.close()
                return
            await stage.stall()
    bytes_per_second = rate * 1000.0
    piece_size = max(1, rate * 100)
    loop = asyncio.get_running_loop()
    wire_free_at = loop.time()
    while True:
        chunk = await stage.receive()
        if chunk is None:
            stage.close()
            return
        data = memoryview(chunk.data)
        while data:
            piece, data = data[:piece_size], data[piece_size:]
            # No credit for idle time: a burst after a pause is throttled like any other.
            wire_free_at = max(wire_free_at, loop.time()) + len(piece) / bytes_per_second
            wait = wire_free_at - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            rest = Chunk(data, chunk.arrived) if data else None
            await stage.emit(Chunk(piece, chunk.arrived), remainder=rest)


async def slow_close(stage: Stage, attributes: Mapping[str, int]) -> None:
    """Pass data through, but hold the end of the stream back for ``delay`` ms."""
    delay = attributes["delay"] / 1000.0
    while True:
        chunk = await stage.receive()
        if chunk is None:
            await asyncio.sleep(delay)
            stage.close()
            return
        await stage.emit(chunk)


async def timeout(stage: Stage, attributes: Mapping[str, int]) -> None:
    """Swallow all data; close the connection after ``timeout`` ms without any (0 = never).

    The clock restarts with every chunk, so a chatty client keeps a timed-out connection open
    (but deaf) exactly as long as it keeps talking. Removing the toxic closes the connection.
    """
    limit = attributes["timeout"] / 1000.0 if attributes["timeout"] > 0 else None
    while True:
        try:
            chunk = await stage.receive(timeout=limit)
        except TimedOut:
            stage.close()
            return
        if chunk is None:
            stage.close()
            return
        stage.drop()


async def reset_peer(stage: Stage, attributes: Mapping[str, int]) -> None:
    """On the first data (or end of stream), wait ``timeout`` ms, then reset both sockets.

    The reset is a close with SO_LINGER 0, so both peers see a TCP RST (ECONNRESET).
    """
    await stage.receive()
    await asyncio.sleep(attributes["timeout"] / 1000.0)
    stage.reset_connection()


async def slicer(stage: Stage, attributes: Mapping[str, int]) -> None:
    """Cut each chunk into pieces of ``average_size`` ± ``size_variation`` bytes.

    Each piece is followed by a pause of ``delay`` µs, so the receiver sees many small reads;
    chunks no larger than ``average_size + size_variation`` go through whole, as in Toxiproxy.
    """
    average = attributes["average_size"]
    variation = max(0, attributes["size_variation"])
    pause = attributes["delay"] / 1_000_000.0
    while True:
        chunk = await stage.receive()
        if chunk is None:
            stage.close()
            return
        data = memoryview(chunk.data)
        if len(data) <= average + variation:
            await stage.emit(chunk)
            if pause > 0:
                await asyncio.sleep(pause)
            continue
        while data:
            size = max(1, average + (stage.rng.randint(-variation, variation) if variation else 0))
            piece, data = data[:size], data[size:]
            rest = Chunk(data, chunk.arrived) if data else None
            await stage.emit(Chunk(piece, chunk.arrived), remainder=rest)
            if pause > 0:
                await asyncio.sleep(pause)


async def limit_data(stage: Stage, attributes: Mapping[str, int]) -> None:
    """Let ``bytes`` bytes through, then close the connection.

    The count lives on the stage, so updating the toxic keeps what was already transmitted.
    """
    limit = attributes["bytes"]
    state = stage.state
    while True:
        chunk = await stage.receive()
        if chunk is None:
            stage.close()
            return
        remaining = max(0, limit - state.get("transmitted", 0))
        if remaining < len(chunk.data):
            chunk = Chunk(chunk.data[:remaining], chunk.arrived)
        if chunk.data:
            await stage.emit(chunk)
            state["transmitted"] = state.get("transmitted", 0) + len(chunk.data)
        else:
            stage.drop()
        if limit - state.get("transmitted", 0) <= 0:
            stage.close()
            return


TOXIC_KINDS: dict[str, ToxicKind] = {
    kind.name: kind
    for kind in (
        ToxicKind("noop", (), noop, go_struct="NoopToxic"),
        ToxicKind("latency", ("latency", "jitter"), latency, 1024, go_struct="LatencyToxic"),
        ToxicKind("bandwidth", ("rate",), bandwidth, go_struct="BandwidthToxic"),
        ToxicKind("slow_close", ("delay",), slow_close, go_struct="SlowCloseToxic"),
        ToxicKind(
            "timeout", ("timeout",), timeout, closes_on_removal=True, go_struct="TimeoutToxic"
        ),
        ToxicKind("reset_peer", ("timeout",), reset_peer, go_struct="ResetToxic"),
        ToxicKind(
            "slicer", ("average_size", "size_variation", "delay"), slicer, go_struct="SlicerToxic"
        ),
        ToxicKind("limit_data", ("bytes",), limit_data, go_struct="LimitDataToxic"),
    )
}
