"""The embedded Toxiproxy server: a proxy collection and the HTTP API that drives it.

:class:`ToxiproxyServer` is asyncio-native and runs on whatever loop starts it; the CLI
(``python -m ...toxiproxy``) and :class:`~.background.BackgroundServer` (a loop on a thread,
for synchronous callers) are thin shells around it.
"""

from __future__ import annotations

import json
import random
import socket
from pathlib import Path
from typing import Any

from .addresses import join_host_port, open_listener
from .api import TOXIPROXY_VERSION, Api
from .collection import ProxyCollection
from .errors import ApiError
from .http11 import HttpServer
from .proxy import Proxy


class ToxiproxyServer:
    """A Toxiproxy-compatible server on ``host:port`` (port 0 picks a free one).

    ``seed`` seeds the one random generator behind toxicity draws, latency jitter and slicer
    sizes, so a run can be repeated (Toxiproxy 2.12.0 accepts ``-seed`` but ignores it).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 8474,
        *,
        seed: int | None = None,
        version: str = TOXIPROXY_VERSION,
    ) -> None:
        self.host = host
        self.version = version
        self.rng = random.Random(seed)
        self.proxies = ProxyCollection(self.rng)
        self._port = port
        self._socket: socket.socket | None = None
        self._http = HttpServer(Api(self.proxies, version).handle)

    @property
    def port(self) -> int:
        """The API's port: the bound one once listening."""
        return self._port

    @property
    def address(self) -> str:
        """``host:port`` of the API, with the real port."""
        return join_host_port(self.host, self.port)

    def bind(self) -> None:
        """Reserve the API address without serving yet; raise AddressError if it is taken.

        Split from :meth:`start` so the CLI can fail fast on a busy port before it touches the
        ports of any proxy from a config file.
        """
        if self._socket is None:
            self._socket = open_listener(join_host_port(self.host, self._port))
            self._port = int(self._socket.getsockname()[1])

    async def start(self) -> None:
        """Serve the API (binding first if :meth:`bind` was not called)."""
        self.bind()
        assert self._socket is not None
        await self._http.start(self._socket)

    async def populate(self, proxies: Any) -> list[Proxy]:
        """Create or replace proxies from a list of dicts, like ``POST /populate``."""
        done, error = await self.proxies.populate(proxies)
        if error is not None:
            raise error
        return done or []

    async def load_config(self, path: str | Path) -> list[Proxy]:
        """Populate from a JSON file holding a list of proxies (the ``-config`` flag)."""
        try:
            content = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ApiError(f"cannot read config {path}: {exc}", 400) from None
        return await self.populate(content)

    async def close(self) -> None:
        """Stop the API, then every proxy and connection."""
        await self._http.close()
        if self._socket is not None:
            self._socket.close()
        await self.proxies.clear()

    async def __aenter__(self) -> ToxiproxyServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
