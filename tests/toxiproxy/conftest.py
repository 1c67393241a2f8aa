"""Fixtures for the embedded Toxiproxy: a server on a thread, API clients, and TCP peers.

The peers are small blocking servers on threads (echo, greet-and-close, record) so that every
test exercises real sockets end to end; all of them shut their sockets down at teardown so
``filterwarnings = error`` sees no ResourceWarning.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest
import requests
from toxiproxy.api import APIConsumer
from toxiproxy.server import Toxiproxy

from pytest_dchaos.toxiproxy import BackgroundServer

ConnectionHandler = Callable[[socket.socket], None]

#: Generous default for socket operations; no test should get near it.
IO_TIMEOUT = 5.0


class TcpServer:
    """A threaded TCP server on 127.0.0.1 running ``handler`` for each connection."""

    def __init__(self, handler: ConnectionHandler) -> None:
        self._handler = handler
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.accepted = 0
        self._connections: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False
        self._start(self._accept_loop)

    def _start(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._closed:
                    conn.close()
                    return
                self.accepted += 1
                self._connections.append(conn)
                self._start(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self._handler(conn)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            connections = list(self._connections)
        for sock in [self._listener, *connections]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        for thread in self._threads:
            thread.join(IO_TIMEOUT)


def echo(conn: socket.socket) -> None:
    while data := conn.recv(65536):
        conn.sendall(data)


class Recorder:
    """A connection handler that keeps what it receives and notes the peer's end of stream."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.eof = threading.Event()

    def __call__(self, conn: socket.socket) -> None:
        while data := conn.recv(65536):
            self.received += data
        self.eof.set()


@pytest.fixture
def toxiproxy() -> Iterator[BackgroundServer]:
    with BackgroundServer("127.0.0.1", 0, seed=1234) as server:
        yield server


@pytest.fixture
def api(toxiproxy: BackgroundServer) -> Iterator[Api]:
    with Api(toxiproxy.url) as client:
        yield client


class Api:
    """``requests`` against one server, with the base URL filled in."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()

    def request(self, method: str, path: str, **kwargs: object) -> requests.Response:
        kwargs.setdefault("timeout", IO_TIMEOUT)
        return self.session.request(method, self.base_url + path, **kwargs)  # type: ignore[arg-type]

    def get(self, path: str, **kwargs: object) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: object) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def patch(self, path: str, **kwargs: object) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: object) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0") -> str:
        """Create a proxy and return the address it listens on."""
        response = self.post(
            "/proxies", json={"name": name, "listen": listen, "upstream": upstream}
        )
        assert response.status_code == 201, response.text
        return str(response.json()["listen"])

    def add_toxic(self, proxy: str, **toxic: object) -> dict[str, object]:
        response = self.post(f"/proxies/{proxy}/toxics", json=toxic)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> Api:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


@pytest.fixture
def toxiproxy_client(toxiproxy: BackgroundServer) -> Iterator[Toxiproxy]:
    """The real ``toxiproxy-python`` client, pointed at the embedded server."""
    saved = (APIConsumer.host, APIConsumer.port)
    client = Toxiproxy()
    client.update_api_consumer(toxiproxy.host, toxiproxy.port)
    try:
        yield client
    finally:
        client.update_api_consumer(*saved)


@pytest.fixture
def tcp_server() -> Iterator[Callable[[ConnectionHandler], TcpServer]]:
    """A factory of TCP servers, all closed at teardown."""
    servers: list[TcpServer] = []

    def make(handler: ConnectionHandler) -> TcpServer:
        server = TcpServer(handler)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.close()


@pytest.fixture
def echo_server(tcp_server: Callable[[ConnectionHandler], TcpServer]) -> TcpServer:
    return tcp_server(echo)


@pytest.fixture
def connect() -> Iterator[Callable[[str], socket.socket]]:
    """Open client sockets to ``host:port`` addresses; all closed at teardown."""
    sockets: list[socket.socket] = []

    def open_connection(address: str) -> socket.socket:
        host, _, port = address.rpartition(":")
        sock = socket.create_connection((host.strip("[]"), int(port)), timeout=IO_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sockets.append(sock)
        return sock

    yield open_connection
    for sock in sockets:
        sock.close()


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {size} bytes")
        data += chunk
    return bytes(data)


def recv_until_closed(sock: socket.socket) -> bytes:
    data = bytearray()
    while chunk := sock.recv(65536):
        data += chunk
    return bytes(data)


def round_trip(sock: socket.socket, payload: bytes = b"ping") -> float:
    """Seconds for ``payload`` to come back through an echo server."""
    started = time.perf_counter()
    sock.sendall(payload)
    assert recv_exactly(sock, len(payload)) == payload
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
