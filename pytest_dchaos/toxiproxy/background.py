"""Run a :class:`ToxiproxyServer` on an event loop in a background thread.

Synchronous callers (tests, the local backend, benchmarks) get a running server with one call
and talk to it over HTTP like any Toxiproxy; ``stop`` closes every listener and connection and
the loop itself, so nothing outlives it. One thread per server, never one per connection.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

from .addresses import join_host_port
from .server import ToxiproxyServer

T = TypeVar("T")


class BackgroundServer:
    """A ToxiproxyServer serving from its own thread; usable as a context manager."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, seed: int | None = None):
        self.host = host
        self._requested_port = port
        self._seed = seed
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._server: ToxiproxyServer | None = None
        self._error: BaseException | None = None

    @property
    def server(self) -> ToxiproxyServer:
        if self._server is None:
            raise RuntimeError("the Toxiproxy server is not running; call start() first")
        return self._server

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def address(self) -> str:
        """``host:port`` of the API."""
        return join_host_port(self.host, self.port)

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        """Start serving; return once the API listens, or raise what stopped it."""
        if self._thread is not None:
            raise RuntimeError("BackgroundServer.start() called twice")
        self._thread = threading.Thread(target=self._run, name="toxiproxy-server", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise TimeoutError(f"the Toxiproxy server did not start within {timeout} s")
        if self._error is not None:
            self._thread.join(timeout)
            raise self._error
        return self

    def call(self, action: Callable[[ToxiproxyServer], Awaitable[T]], timeout: float = 10.0) -> T:
        """Run ``action(server)`` on the server's loop and return its result."""
        if self._loop is None:
            raise RuntimeError("the Toxiproxy server is not running; call start() first")
        server = self.server
        future = asyncio.run_coroutine_threadsafe(_await(action(server)), self._loop)
        return future.result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Close the API, every proxy and connection, and the loop; idempotent."""
        thread = self._thread
        if thread is None:
            return
        if self._loop is not None and self._stopping is not None and thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        thread.join(timeout)
        if thread.is_alive():
            raise RuntimeError(f"the Toxiproxy server thread did not stop within {timeout} s")

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start(), which re-raises it
            if not self._ready.is_set():
                self._error = exc
                self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = ToxiproxyServer(self.host, self._requested_port, seed=self._seed)
        try:
            await server.start()
        except BaseException as exc:
            self._error = exc
            await server.close()
            self._ready.set()
            return
        self._server = server
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await server.close()
            # Let aborted transports run their connection_lost callbacks (which close the
            # sockets) before asyncio.run closes the loop.
            for _ in range(3):
                await asyncio.sleep(0)


async def _await(awaitable: Awaitable[T]) -> T:
    return await awaitable
