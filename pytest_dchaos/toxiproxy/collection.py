"""The server's proxies by name: create, replace, populate, remove and reset them.

This is Toxiproxy's ProxyCollection: it guards name uniqueness and makes populate idempotent
(an entry equal to the running proxy keeps it, toxics and connections included; a changed one
replaces it). Request bodies arrive decoded; field checks follow Toxiproxy's, message for
message.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass
from typing import Any

from .decoding import bool_field, expect_object, json_kind, string_field
from .errors import BAD_REQUEST_BODY, MISSING_FIELD, PROXY_ALREADY_EXISTS, PROXY_NOT_FOUND, ApiError
from .proxy import Proxy, ProxyAlreadyStarted


@dataclass(frozen=True)
class ProxyRequest:
    """The fields of one proxy in a create or populate body."""

    name: str
    listen: str
    upstream: str
    enabled: bool


def parse_proxy(body: Any, position: int | None = None) -> ProxyRequest:
    """Read a proxy from a decoded body; ``position`` (1-based) when it came in a populate list."""
    obj = expect_object(body, "toxiproxy.Proxy")
    name = string_field(obj, "name", "Proxy") or ""
    listen = string_field(obj, "listen", "Proxy") or ""
    upstream = string_field(obj, "upstream", "Proxy") or ""
    enabled = bool_field(obj, "enabled", "Proxy")
    where = "" if position is None else f" at proxy {position}"
    if not name:
        raise MISSING_FIELD.detailed(f"name{where}")
    if not upstream:
        raise MISSING_FIELD.detailed(f"upstream{where}")
    return ProxyRequest(name, listen, upstream, True if enabled is None else enabled)


class ProxyCollection:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._proxies: dict[str, Proxy] = {}
        self._lock_instance: asyncio.Lock | None = None

    @property
    def _lock(self) -> asyncio.Lock:
        if self._lock_instance is None:
            self._lock_instance = asyncio.Lock()
        return self._lock_instance

    def proxies(self) -> dict[str, Proxy]:
        """A snapshot of the proxies, sorted by name (the order Go's JSON maps come in)."""
        return {name: self._proxies[name] for name in sorted(self._proxies)}

    def get(self, name: str) -> Proxy:
        proxy = self._proxies.get(name)
        if proxy is None:
            raise PROXY_NOT_FOUND
        return proxy

    def _new_proxy(self, request: ProxyRequest) -> Proxy:
        return Proxy(request.name, request.listen, request.upstream, self._rng)

    async def create(self, body: Any) -> Proxy:
        """Create (and by default start) a proxy from a request body; 409 if the name is taken."""
        request = parse_proxy(body)
        async with self._lock:
            if request.name in self._proxies:
                raise PROXY_ALREADY_EXISTS
            proxy = self._new_proxy(request)
            if request.enabled:
                await proxy.start()
            self._proxies[proxy.name] = proxy
            return proxy

    async def populate(self, body: Any) -> tuple[list[Proxy] | None, ApiError | None]:
        """Create or replace each listed proxy; return those done and the error that stopped it.

        Every entry is checked before any proxy is touched; after that, proxies are handled in
        order and the first failure ends the run, leaving the earlier ones in place.
        """
        if not isinstance(body, list):
            return None, BAD_REQUEST_BODY.detailed(
                f"json: cannot unmarshal {json_kind(body)} into Go value of type []toxiproxy.Proxy"
            )
        try:
            requests = [parse_proxy(entry, index + 1) for index, entry in enumerate(body)]
        except ApiError as exc:
            return None, exc
        done: list[Proxy] = []
        async with self._lock:
            for request in requests:
                try:
                    done.append(await self._add_or_replace(request))
                except ApiError as exc:
                    return done, exc
        return done, None

    async def _add_or_replace(self, request: ProxyRequest) -> Proxy:
        existing = self._proxies.get(request.name)
        if existing is not None:
            if not existing.differs(request.listen, request.upstream):
                return existing
            await existing.stop()
        proxy = self._new_proxy(request)
        if request.enabled:
            await proxy.start()
        self._proxies[proxy.name] = proxy
        return proxy

    async def remove(self, name: str) -> None:
        async with self._lock:
            proxy = self.get(name)
            await proxy.stop()
            del self._proxies[name]

    async def reset(self) -> None:
        """Enable every proxy and remove every toxic (``POST /reset``)."""
        for proxy in self.proxies().values():
            with contextlib.suppress(ProxyAlreadyStarted):
                await proxy.start()
            await proxy.reset_toxics()

    async def clear(self) -> None:
        """Stop and forget every proxy (server shutdown)."""
        async with self._lock:
            for proxy in self._proxies.values():
                await proxy.stop()
            self._proxies.clear()
