"""Drives a Toxiproxy server — the embedded one or a real ``toxiproxy-server`` — by its API.

Built on the ``toxiproxy-python`` client's API (its response checks and error types), with
what it lacks for a harness: a timeout on every call that says which call hung (a known weak
spot of Toxiproxy), a server address per driver instead of one global, a connection kept
from one call to the next (the library's consumer makes a new session and connection for
every call: a millisecond or more of CPU each, seconds for a partition of a large cluster),
and errors that read as errors.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import requests
from toxiproxy import exceptions as toxiproxy_errors
from toxiproxy.api import validate_response

from pytest_dchaos.errors import HarnessError


class ToxiproxyDriver:
    """One Toxiproxy server, reached at ``url`` (``http://host:port``)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parts = urlsplit(url if "//" in url else f"http://{url}")
        if not parts.hostname or not parts.port:
            raise HarnessError(f"Toxiproxy URL {url!r} needs a host and a port, like "
                               "http://127.0.0.1:8474")
        self.url = f"http://{parts.hostname}:{parts.port}"
        self.timeout = timeout
        self._local = threading.local()

    def _session(self) -> requests.Session:
        """This thread's session with the server: its connection is kept for the next call."""
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            # The server is this run's own: never reached through an HTTP proxy the
            # environment names (and reading the environment was a third of each call).
            session.trust_env = False
        return session

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        what = f"{method.upper()} {path}"
        try:
            # toxiproxy-python has no type information: say what its calls return.
            response: requests.Response = validate_response(getattr(self._session(), method)(
                self.url + path, timeout=self.timeout, **kwargs))
        except (toxiproxy_errors.ProxyExists, toxiproxy_errors.NotFound,
                toxiproxy_errors.InvalidToxic) as exc:
            raise HarnessError(f"Toxiproxy at {self.url} refused {what}: "
                               f"{_error_text(exc.args[0] if exc.args else b'')}") from None
        except requests.Timeout:
            raise HarnessError(f"Toxiproxy at {self.url} did not answer {what} within "
                               f"{self.timeout:g}s") from None
        except requests.RequestException as exc:
            raise HarnessError(f"cannot reach Toxiproxy at {self.url} ({what}): "
                               f"{type(exc).__name__}") from None
        if response.status_code >= 400:
            raise HarnessError(f"Toxiproxy at {self.url} refused {what}: "
                               f"{_error_text(response.content)}")
        return response

    def wait_ready(self, timeout: float, still_starting: Callable[[], bool]) -> bool:
        """Poll the API until it answers (True), or until ``still_starting()`` says the
        server died or ``timeout`` passes (False)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.version()
                return True
            except HarnessError:
                if not still_starting() or time.monotonic() > deadline:
                    return False
                time.sleep(0.05)

    def version(self) -> str:
        return self._call("get", "/version").text.strip()

    @property
    def drivers(self) -> list[ToxiproxyDriver]:
        """The servers of this fault layer: this one (as :class:`ToxiproxyShards` has)."""
        return [self]

    def server_of(self, proxy: str) -> int:
        """Which of :attr:`drivers` holds ``proxy``: the one."""
        return 0

    def proxies(self) -> dict[str, dict[str, Any]]:
        proxies: dict[str, dict[str, Any]] = self._call("get", "/proxies").json()
        return proxies

    def populate(self, proxies: list[dict[str, Any]]) -> dict[str, str]:
        """Create (or replace) ``proxies`` in one call; returns name → real listen address."""
        if not proxies:  # a one-node cluster has no links (and Toxiproxy answers null)
            return {}
        reply = self._call("post", "/populate", json=proxies).json()
        made = reply.get("proxies") if isinstance(reply, dict) else None
        if not isinstance(made, list):
            raise HarnessError(f"Toxiproxy at {self.url} answered /populate of "
                               f"{len(proxies)} proxies without them: {reply!r:.200}")
        return {proxy["name"]: proxy["listen"] for proxy in made}

    def set_enabled(self, name: str, enabled: bool) -> None:
        self._call("post", f"/proxies/{name}", json={"enabled": enabled})

    def set_upstream(self, name: str, upstream: str) -> None:
        """Point proxy ``name`` at ``upstream`` (``host:port``); enabled or not, it stays so."""
        self._call("post", f"/proxies/{name}", json={"upstream": upstream})

    def add_toxic(self, proxy: str, name: str, toxic_type: str, attributes: dict[str, Any],
                  stream: str = "upstream", toxicity: float = 1.0) -> None:
        self._call("post", f"/proxies/{proxy}/toxics", json={
            "name": name, "type": toxic_type, "stream": stream, "toxicity": toxicity,
            "attributes": attributes,
        })

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("delete", f"/proxies/{proxy}/toxics/{name}")

    def delete_proxy(self, name: str) -> None:
        self._call("delete", f"/proxies/{name}")

    def reset(self) -> None:
        self._call("post", "/reset")


class ToxiproxyShards:
    """Several Toxiproxy servers driven as one: each proxy lives on one of them, and calls
    about it go there. A large cluster's links are spread over servers (each server a
    process with its own open-file limit and its own core for the bytes it forwards)."""

    def __init__(self, drivers: list[ToxiproxyDriver]) -> None:
        if not drivers:
            raise ValueError("no Toxiproxy servers")
        self.drivers = drivers
        self.url = drivers[0].url
        self._home: dict[str, ToxiproxyDriver] = {}

    def proxies(self) -> dict[str, dict[str, Any]]:
        return {name: proxy for driver in self.drivers
                for name, proxy in driver.proxies().items()}

    def populate(self, proxies: list[dict[str, Any]]) -> dict[str, str]:
        """Each server gets an even, contiguous share of ``proxies`` (in their order)."""
        count = len(self.drivers)
        shares = [proxies[len(proxies) * i // count:len(proxies) * (i + 1) // count]
                  for i in range(count)]
        with ThreadPoolExecutor(max_workers=count) as pool:  # the servers work side by side
            made = list(pool.map(ToxiproxyDriver.populate, self.drivers, shares))
        listen: dict[str, str] = {}
        for driver, share, addresses in zip(self.drivers, shares, made, strict=True):
            listen.update(addresses)
            self._home.update((proxy["name"], driver) for proxy in share)
        return listen

    def server_of(self, proxy: str) -> int:
        """Which of the servers (an index into ``drivers``) holds ``proxy``."""
        return self.drivers.index(self._driver(proxy))

    def _driver(self, proxy: str) -> ToxiproxyDriver:
        driver = self._home.get(proxy)
        if driver is None:
            raise HarnessError(f"no Toxiproxy server of this run holds proxy {proxy!r}")
        return driver

    def set_enabled(self, name: str, enabled: bool) -> None:
        self._driver(name).set_enabled(name, enabled)

    def set_upstream(self, name: str, upstream: str) -> None:
        self._driver(name).set_upstream(name, upstream)

    def add_toxic(self, proxy: str, name: str, toxic_type: str, attributes: dict[str, Any],
                  stream: str = "upstream", toxicity: float = 1.0) -> None:
        self._driver(proxy).add_toxic(proxy, name, toxic_type, attributes, stream, toxicity)

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._driver(proxy).remove_toxic(proxy, name)



#: What the fault layer drives: one server, or several as one.
FaultLayer = ToxiproxyDriver | ToxiproxyShards


def _error_text(content: bytes | str) -> str:
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else str(content)
    try:
        return str(json.loads(text).get("error", text))
    except (ValueError, AttributeError):
        return text.strip()[:200]


#: At most this many links per Toxiproxy server a run starts: each is a listening socket
#: and, while used, two connections (100 fully linked nodes, 9,900 links, need about
#: 30,000 descriptors, more than one process may open on many machines), and a large
#: cluster's bytes are then forwarded by more than one process.
LINKS_PER_SERVER = 2500


def servers_for(links: int, per_server: int) -> int:
    """How many Toxiproxy servers a run of ``links`` directed links starts."""
    return max(1, -(-links // per_server))


def as_one(drivers: list[ToxiproxyDriver]) -> FaultLayer:
    """The fault layer over a run's servers: the one server, or all of them as one."""
    return drivers[0] if len(drivers) == 1 else ToxiproxyShards(drivers)
