"""Toxics measured on real sockets: what a client of a proxied service actually experiences.

Timings are asserted with wide margins (a loaded two-core CI box can stall a thread for tens
of milliseconds); each test checks an effect that is far outside the noise, such as 150 ms of
added latency against a sub-millisecond baseline.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable

import pytest

from .conftest import (
    Api,
    ConnectionHandler,
    Recorder,
    TcpServer,
    recv_exactly,
    recv_until_closed,
    round_trip,
)

Connect = Callable[[str], socket.socket]
MakeServer = Callable[[ConnectionHandler], TcpServer]


@pytest.fixture
def proxied(api: Api, echo_server: TcpServer, connect: Connect) -> socket.socket:
    """A client connection through proxy ``p`` to an echo server."""
    return connect(api.create_proxy("p", echo_server.address))


def pattern(size: int) -> bytes:
    """Bytes whose position is recognisable, so loss or reordering cannot go unnoticed."""
    return bytes(i % 251 for i in range(size))


def test_no_toxics_relays_bulk_data_intact(proxied: socket.socket) -> None:
    payload = pattern(2_000_000)
    received = bytearray()

    def read() -> None:
        received.extend(recv_exactly(proxied, len(payload)))

    reader = threading.Thread(target=read)
    reader.start()
    proxied.sendall(payload)
    reader.join(10)
    assert received == payload


def test_latency_delays_each_round_trip(api: Api, proxied: socket.socket) -> None:
    assert round_trip(proxied) < 0.1
    api.add_toxic("p", type="latency", attributes={"latency": 150})  # on a live connection
    delayed = round_trip(proxied)
    assert 0.14 <= delayed < 1.0
    api.add_toxic("p", type="latency", stream="upstream", attributes={"latency": 100})
    assert 0.24 <= round_trip(proxied) < 1.5  # both directions add up


def test_latency_with_jitter_keeps_order_and_pipelines(api: Api, proxied: socket.socket) -> None:
    api.add_toxic("p", type="latency", attributes={"latency": 60, "jitter": 50})
    messages = [f"<{i:04d}>".encode() for i in range(40)]
    expected = b"".join(messages)
    started = time.perf_counter()
    for message in messages:
        proxied.sendall(message)
        time.sleep(0.005)  # separate chunks, each with its own jitter draw
    received = recv_exactly(proxied, len(expected))
    elapsed = time.perf_counter() - started
    assert received == expected  # a chunk drawn a shorter delay never overtakes
    # 40 chunks of up to 110 ms each would take over 4 s if delays did not overlap.
    assert elapsed < 1.5


def test_toxicity_zero_never_applies(api: Api, proxied: socket.socket) -> None:
    api.add_toxic("p", type="latency", toxicity=0.0, attributes={"latency": 1000})
    assert round_trip(proxied) < 0.5


def test_toxicity_is_drawn_per_connection(
    api: Api, echo_server: TcpServer, connect: Connect
) -> None:
    listen = api.create_proxy("half", echo_server.address)
    api.add_toxic("half", type="latency", toxicity=0.5, attributes={"latency": 120})
    delayed = []
    for _ in range(12):
        sock = connect(listen)
        first = round_trip(sock)
        assert (round_trip(sock) >= 0.1) == (first >= 0.1)  # decided once per connection
        delayed.append(first >= 0.1)
        sock.close()
    assert 0 < sum(delayed) < len(delayed)


def test_bandwidth_throttles(api: Api, proxied: socket.socket) -> None:
    api.add_toxic("p", type="bandwidth", attributes={"rate": 100})  # 100 KB/s downstream
    payload = pattern(50_000)
    started = time.perf_counter()
    proxied.sendall(payload)
    assert recv_exactly(proxied, len(payload)) == payload
    elapsed = time.perf_counter() - started
    assert 0.35 <= elapsed < 5.0  # 0.5 s at the configured rate


def test_bandwidth_zero_stalls_until_removed(api: Api, proxied: socket.socket) -> None:
    api.add_toxic("p", type="bandwidth", attributes={"rate": 0})
    proxied.sendall(b"held back")
    proxied.settimeout(0.3)
    with pytest.raises(TimeoutError):
        proxied.recv(100)
    proxied.settimeout(5.0)
    assert api.delete("/proxies/p/toxics/bandwidth_downstream").status_code == 204
    assert recv_exactly(proxied, 9) == b"held back"


def test_slow_close_delays_the_close(api: Api, tcp_server: MakeServer, connect: Connect) -> None:
    def greet_and_hang_up(conn: socket.socket) -> None:
        conn.sendall(b"bye")
        conn.close()

    server = tcp_server(greet_and_hang_up)
    listen = api.create_proxy("p", server.address)
    api.add_toxic("p", type="slow_close", attributes={"delay": 400})
    started = time.perf_counter()
    sock = connect(listen)
    assert recv_exactly(sock, 3) == b"bye"
    assert time.perf_counter() - started < 0.3  # data is not held back
    assert sock.recv(1) == b""
    assert 0.35 <= time.perf_counter() - started < 3.0


def test_timeout_closes_after_silence(api: Api, proxied: socket.socket) -> None:
    api.add_toxic("p", type="timeout", attributes={"timeout": 300})
    started = time.perf_counter()
    proxied.sendall(b"swallowed")
    assert recv_until_closed(proxied) == b""
    assert 0.25 <= time.perf_counter() - started < 3.0


def test_timeout_zero_holds_until_removed_then_closes(api: Api, proxied: socket.socket) -> None:
    api.add_toxic("p", type="timeout", attributes={"timeout": 0})
    proxied.sendall(b"swallowed")
    proxied.settimeout(0.3)
    with pytest.raises(TimeoutError):
        proxied.recv(100)
    proxied.settimeout(5.0)
    assert api.delete("/proxies/p/toxics/timeout_downstream").status_code == 204
    assert recv_until_closed(proxied) == b""


def test_reset_peer_sends_rst(api: Api, proxied: socket.socket) -> None:
    api.add_toxic("p", type="reset_peer", stream="upstream", attributes={"timeout": 150})
    started = time.perf_counter()
    proxied.sendall(b"trigger")
    with pytest.raises(ConnectionResetError):
        proxied.recv(100)
    assert 0.1 <= time.perf_counter() - started < 3.0


def test_slicer_cuts_and_paces(api: Api, proxied: socket.socket) -> None:
    api.add_toxic(
        "p",
        type="slicer",
        attributes={"average_size": 10, "size_variation": 0, "delay": 30_000},  # 30 ms
    )
    payload = pattern(100)
    started = time.perf_counter()
    proxied.sendall(payload)
    first = proxied.recv(1000)
    assert len(first) <= 10  # the first piece arrives alone
    assert first + recv_exactly(proxied, len(payload) - len(first)) == payload
    assert 0.2 <= time.perf_counter() - started < 3.0  # nine 30 ms pauses between pieces


def test_limit_data_closes_after_the_limit(
    api: Api, tcp_server: MakeServer, connect: Connect, echo_server: TcpServer
) -> None:
    recorder = Recorder()
    sink = tcp_server(recorder)
    listen = api.create_proxy("up", sink.address)
    api.add_toxic("up", type="limit_data", stream="upstream", attributes={"bytes": 25})
    sock = connect(listen)
    sock.sendall(b"0123456789" * 2)
    time.sleep(0.05)
    sock.sendall(b"0123456789")
    assert recv_until_closed(sock) == b""
    assert recorder.eof.wait(5.0)
    assert bytes(recorder.received) == b"0123456789" * 2 + b"01234"

    down = connect(api.create_proxy("down", echo_server.address))
    api.add_toxic("down", type="limit_data", attributes={"bytes": 10})
    down.sendall(pattern(30))
    assert recv_until_closed(down) == pattern(10)


def test_live_changes_lose_and_reorder_nothing(api: Api, proxied: socket.socket) -> None:
    """Toxics come and go while data streams both ways; every byte must arrive, in order."""
    sent = bytearray()
    received = bytearray()
    done_sending = threading.Event()
    sender_finished = threading.Event()

    def send() -> None:
        block = 0
        while not done_sending.is_set():
            data = pattern(1500)[block % 7 :] + block.to_bytes(4, "big")
            proxied.sendall(data)
            sent.extend(data)
            block += 1
            time.sleep(0.001)
        sender_finished.set()

    def read() -> None:
        # Short timeouts: the total is only known once the sender stops, and a recv()
        # waiting for bytes that will never come must get to see that.
        proxied.settimeout(0.1)
        deadline = time.monotonic() + 15
        while not (sender_finished.is_set() and len(received) >= len(sent)):
            if time.monotonic() > deadline:
                return
            try:
                data = proxied.recv(65536)
            except TimeoutError:
                continue
            if not data:
                return
            received.extend(data)

    sender, reader = threading.Thread(target=send), threading.Thread(target=read)
    sender.start()
    reader.start()
    steps = [
        ("POST", "/proxies/p/toxics", {"type": "latency", "attributes": {"latency": 20}}),
        ("POST", "/proxies/p/toxics", {"type": "slicer", "attributes": {"average_size": 700}}),
        ("PATCH", "/proxies/p/toxics/latency_downstream", {"attributes": {"jitter": 15}}),
        ("POST", "/proxies/p/toxics", {"type": "bandwidth", "attributes": {"rate": 3000}}),
        ("POST", "/proxies/p/toxics", {"type": "latency", "name": "up", "stream": "upstream"}),
        ("DELETE", "/proxies/p/toxics/slicer_downstream", None),
        ("PATCH", "/proxies/p/toxics/up", {"attributes": {"latency": 10, "jitter": 10}}),
        ("DELETE", "/proxies/p/toxics/latency_downstream", None),
        ("DELETE", "/proxies/p/toxics/up", None),
        ("DELETE", "/proxies/p/toxics/bandwidth_downstream", None),
    ]
    try:
        for method, path, body in steps:
            time.sleep(0.04)
            response = api.request(method, path, json=body)
            assert response.status_code in (200, 204), response.text
        time.sleep(0.04)
    finally:
        done_sending.set()
        sender.join(10)
        reader.join(20)
    assert len(sent) > 100_000
    assert len(received) == len(sent)
    assert received == sent


def test_disable_closes_connections_and_enable_restores(
    api: Api, proxied: socket.socket, connect: Connect
) -> None:
    listen = api.get("/proxies/p").json()["listen"]
    api.patch("/proxies/p", json={"enabled": False})
    assert recv_until_closed(proxied) == b""
    api.patch("/proxies/p", json={"enabled": True})
    assert round_trip(connect(listen)) < 1.0


def test_unreachable_upstream_closes_the_client(
    api: Api, connect: Connect, tcp_server: MakeServer
) -> None:
    server = tcp_server(lambda conn: None)
    address = server.address
    server.close()  # nothing listens there any more
    sock = connect(api.create_proxy("dead", address))
    with contextlib.suppress(ConnectionResetError):  # also closed, depending on timing
        assert sock.recv(1) == b""


def test_client_eof_closes_both_sides(api: Api, tcp_server: MakeServer, connect: Connect) -> None:
    recorder = Recorder()
    server = tcp_server(recorder)
    sock = connect(api.create_proxy("p", server.address))
    sock.sendall(b"last words")
    sock.shutdown(socket.SHUT_WR)
    assert recv_until_closed(sock) == b""  # Toxiproxy closes, it does not half-close
    assert recorder.eof.wait(5.0)
    assert bytes(recorder.received) == b"last words"
