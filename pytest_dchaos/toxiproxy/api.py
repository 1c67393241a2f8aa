"""Toxiproxy 2.12.0's REST API: routes, status codes and JSON shapes.

Every response a client can observe is modelled on the Go server's: success bodies are compact
JSON; errors are ``{"error": ..., "status": ...}`` plus a newline, sent as text/plain as Go's
``http.Error`` does; an unknown path is gorilla/mux's ``404 page not found``; a known path with
the wrong method is an empty 405; a browser (User-Agent ``Mozilla/...``) gets 403 on known routes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from .collection import ProxyCollection
from .decoding import bool_field, decode_body, expect_object, string_field
from .errors import TOXIC_NOT_FOUND, ApiError
from .http11 import Request, Response

#: The Toxiproxy release whose behaviour this server reproduces, reported by ``/version``.
TOXIPROXY_VERSION = "2.12.0"

RouteHandler = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class Route:
    #: Literal segments, or ``{name}`` for a non-empty path variable.
    pattern: tuple[str, ...]
    methods: dict[str, RouteHandler]

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.pattern):
            return None
        params: dict[str, str] = {}
        for index, part in enumerate(self.pattern):
            segment = segments[index]
            if part.startswith("{"):
                if not segment:
                    return None
                params[part[1:-1]] = segment
            elif part != segment:
                return None
        return params


def json_response(status: int, payload: Any) -> Response:
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(status, body, "application/json")


def error_response(error: ApiError) -> Response:
    body = json.dumps(error.to_json(), separators=(",", ":"), ensure_ascii=False) + "\n"
    return Response(
        error.status,
        body.encode("utf-8"),
        "text/plain; charset=utf-8",
        [("X-Content-Type-Options", "nosniff")],
    )


def text_response(status: int, text: str) -> Response:
    return Response(
        status,
        text.encode("utf-8"),
        "text/plain; charset=utf-8",
        [("X-Content-Type-Options", "nosniff")],
    )


class Api:
    """Maps HTTP requests onto a :class:`ProxyCollection`."""

    def __init__(self, collection: ProxyCollection, version: str = TOXIPROXY_VERSION) -> None:
        self._collection = collection
        self._version = version
        self._routes = (
            Route(("reset",), {"POST": self.reset}),
            Route(("proxies",), {"GET": self.proxy_index, "POST": self.proxy_create}),
            Route(("populate",), {"POST": self.populate}),
            Route(
                ("proxies", "{proxy}"),
                {
                    "GET": self.proxy_show,
                    "POST": self.proxy_update,
                    "PATCH": self.proxy_update,
                    "DELETE": self.proxy_delete,
                },
            ),
            Route(
                ("proxies", "{proxy}", "toxics"),
                {"GET": self.toxic_index, "POST": self.toxic_create},
            ),
            Route(
                ("proxies", "{proxy}", "toxics", "{toxic}"),
                {
                    "GET": self.toxic_show,
                    "POST": self.toxic_update,
                    "PATCH": self.toxic_update,
                    "DELETE": self.toxic_delete,
                },
            ),
            Route(("version",), {"GET": self.version}),
        )

    async def handle(self, request: Request) -> Response:
        if not request.path.startswith("/"):
            return text_response(404, "404 page not found\n")
        segments = [unquote(segment) for segment in request.path[1:].split("/")]
        for route in self._routes:
            params = route.match(segments)
            if params is None:
                continue
            handler = route.methods.get(request.method)
            if handler is None:
                return Response(405)
            if request.headers.get("user-agent", "").startswith("Mozilla/"):
                return text_response(403, "User agent not allowed\n")
            try:
                return await handler(request, **params)
            except ApiError as error:
                return error_response(error)
        return text_response(404, "404 page not found\n")

    # -- proxies -----------------------------------------------------------------------------

    async def proxy_index(self, request: Request) -> Response:
        proxies = self._collection.proxies()
        return json_response(200, {name: proxy.to_json() for name, proxy in proxies.items()})

    async def proxy_create(self, request: Request) -> Response:
        proxy = await self._collection.create(decode_body(request.body))
        return json_response(201, proxy.to_json())

    async def populate(self, request: Request) -> Response:
        try:
            proxies, error = await self._collection.populate(decode_body(request.body))
        except ApiError as exc:
            proxies, error = None, exc
        payload: dict[str, Any] = error.to_json() if error is not None else {}
        # Go marshals an empty result as null, not [].
        payload["proxies"] = [proxy.to_json() for proxy in proxies] if proxies else None
        return json_response(201 if error is None else error.status, payload)

    async def proxy_show(self, request: Request, proxy: str) -> Response:
        return json_response(200, self._collection.get(proxy).to_json())

    async def proxy_update(self, request: Request, proxy: str) -> Response:
        target = self._collection.get(proxy)
        body = expect_object(decode_body(request.body), "toxiproxy.Proxy")
        string_field(body, "name", "Proxy")  # decoded (and type-checked) by Go, then unused
        listen = string_field(body, "listen", "Proxy")
        upstream = string_field(body, "upstream", "Proxy")
        enabled = bool_field(body, "enabled", "Proxy")
        await target.update(
            target.listen if listen is None else listen,
            target.upstream if upstream is None else upstream,
            target.enabled if enabled is None else enabled,
        )
        return json_response(200, target.to_json())

    async def proxy_delete(self, request: Request, proxy: str) -> Response:
        await self._collection.remove(proxy)
        return Response(204)

    # -- toxics ------------------------------------------------------------------------------

    async def toxic_index(self, request: Request, proxy: str) -> Response:
        toxics = self._collection.get(proxy).toxics
        return json_response(200, [toxic.to_json() for toxic in toxics])

    async def toxic_create(self, request: Request, proxy: str) -> Response:
        target = self._collection.get(proxy)
        toxic = await target.add_toxic(decode_body(request.body))
        return json_response(200, toxic.to_json())

    async def toxic_show(self, request: Request, proxy: str, toxic: str) -> Response:
        found = self._collection.get(proxy).get_toxic(toxic)
        if found is None:
            raise TOXIC_NOT_FOUND
        return json_response(200, found.to_json())

    async def toxic_update(self, request: Request, proxy: str, toxic: str) -> Response:
        target = self._collection.get(proxy)
        if target.get_toxic(toxic) is None:
            raise TOXIC_NOT_FOUND  # before reading the body, as Toxiproxy checks
        updated = await target.update_toxic(toxic, decode_body(request.body))
        return json_response(200, updated.to_json())

    async def toxic_delete(self, request: Request, proxy: str, toxic: str) -> Response:
        await self._collection.get(proxy).remove_toxic(toxic)
        return Response(204)

    # -- server ------------------------------------------------------------------------------

    async def reset(self, request: Request) -> Response:
        await self._collection.reset()
        return Response(204)

    async def version(self, request: Request) -> Response:
        body = f'{{"version": "{self._version}"}}\n'.encode()
        return Response(200, body, "application/json;charset=utf-8")
