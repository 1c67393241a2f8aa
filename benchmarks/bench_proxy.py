"""How much the embedded Toxiproxy costs a connection with no toxics: latency and throughput.

Run from the project root::

    python benchmarks/bench_proxy.py [--round-trips 3000] [--megabytes 64]

It starts a local TCP server and the embedded proxy (``python -m pytest_dchaos.toxiproxy``),
each in its own process so none of them competes with the client for a GIL, then measures over
loopback:

* round-trip time of small (64-byte) messages, direct and through one proxy: median and p99;
* one-way throughput of a bulk transfer, direct and through the proxy.

Goal: the proxy adds under 1 ms to a round trip at the median on an idle machine. The whole run
is bounded to well under 30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import struct
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MESSAGE = b"x" * 64
BLOCK = 64 * 1024
GOAL_ADDED_MEDIAN_MS = 1.0
SERVER_FLAGS = ("-host", "127.0.0.1", "-port", "0", "--exit-with-stdin")


# -- the upstream server (runs in a child process) ------------------------------------------


class _Upstream(asyncio.Protocol):
    """Echo small messages; for a bulk transfer, count and acknowledge.

    A connection starting with b"BULK" + 8-byte length is a throughput run: the server reads
    that many bytes, then answers b"DONE". Anything else is echoed back.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.mode: str | None = None
        self.header = b""
        self.remaining = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.mode is None:
            self.header += data
            if len(self.header) < 12 and b"BULK".startswith(self.header[:4]):
                return
            if self.header.startswith(b"BULK"):
                self.mode = "bulk"
                self.remaining = struct.unpack("!Q", self.header[4:12])[0]
                data = self.header[12:]
            else:
                self.mode = "echo"
                data = self.header
        if self.mode == "echo":
            self.transport.write(data)
            return
        self.remaining -= len(data)
        if self.remaining <= 0:
            self.transport.write(b"DONE")


async def _serve_upstream() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Upstream, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await loop.run_in_executor(None, sys.stdin.read)  # until the parent closes our stdin
    server.close()


# -- measurements ---------------------------------------------------------------------------


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("connection closed early")
        data += chunk
    return bytes(data)


def measure_rtt(port: int, round_trips: int, budget: float) -> list[float]:
    """Round-trip times in milliseconds (after a warm-up), stopping early at ``budget`` s."""
    samples: list[float] = []
    with _connect(port) as sock:
        for _ in range(200):
            sock.sendall(MESSAGE)
            _recv_exactly(sock, len(MESSAGE))
        deadline = time.perf_counter() + budget
        for _ in range(round_trips):
            started = time.perf_counter()
            sock.sendall(MESSAGE)
            _recv_exactly(sock, len(MESSAGE))
            finished = time.perf_counter()
            samples.append((finished - started) * 1000.0)
            if finished > deadline:
                break
    return samples


def measure_throughput(port: int, megabytes: int) -> float:
    """MB/s of a one-way bulk transfer, timed until the server acknowledges the last byte."""
    total = megabytes * 1024 * 1024
    block = b"\0" * BLOCK
    with _connect(port) as sock:
        started = time.perf_counter()
        sock.sendall(b"BULK" + struct.pack("!Q", total))
        sent = 0
        while sent < total:
            piece = block if total - sent >= BLOCK else block[: total - sent]
            sock.sendall(piece)
            sent += len(piece)
        assert _recv_exactly(sock, 4) == b"DONE"
        elapsed = time.perf_counter() - started
    return total / elapsed / 1e6


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


# -- processes ------------------------------------------------------------------------------


@contextmanager
def upstream_process() -> Iterator[int]:
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve-upstream"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        yield int(process.stdout.readline())
    finally:
        _finish(process)


@contextmanager
def proxy_process(upstream_port: int) -> Iterator[int]:
    """The embedded server with one proxy to ``upstream_port``; yields the proxy's port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest_dchaos.toxiproxy", *SERVER_FLAGS],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready = json.loads(process.stdout.readline())
        body = {"name": "bench", "listen": "127.0.0.1:0", "upstream": f"127.0.0.1:{upstream_port}"}
        request = urllib.request.Request(
            f"http://{ready['api']}/proxies",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            listen = json.loads(response.read())["listen"]
        yield int(listen.rpartition(":")[2])
    finally:
        _finish(process)


def _finish(process: subprocess.Popen[str]) -> None:
    if process.stdin is not None:
        process.stdin.close()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


# -- report ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--round-trips", type=int, default=3000)
    parser.add_argument("--megabytes", type=int, default=128)
    parser.add_argument("--serve-upstream", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_upstream:
        asyncio.run(_serve_upstream())
        return 0

    started = time.perf_counter()
    with upstream_process() as upstream_port, proxy_process(upstream_port) as proxy_port:
        # Interleave direct and proxied runs so drift in machine load hits both alike.
        direct: list[float] = []
        proxied: list[float] = []
        for _ in range(2):
            direct += measure_rtt(upstream_port, args.round_trips // 2, budget=4.0)
            proxied += measure_rtt(proxy_port, args.round_trips // 2, budget=4.0)
        direct_runs: list[float] = []
        proxied_runs: list[float] = []
        for _ in range(3):
            direct_runs.append(measure_throughput(upstream_port, args.megabytes))
            proxied_runs.append(measure_throughput(proxy_port, args.megabytes))
        direct_mbps = statistics.median(direct_runs)
        proxied_mbps = statistics.median(proxied_runs)

    rows = [
        ("RTT median (ms)", statistics.median(direct), statistics.median(proxied)),
        ("RTT p99 (ms)", percentile(direct, 0.99), percentile(proxied, 0.99)),
        ("throughput (MB/s)", direct_mbps, proxied_mbps),
    ]
    print(f"embedded Toxiproxy, one proxy, no toxics, loopback ({len(direct)} round trips each,")
    print(f"{len(MESSAGE)}-byte messages; median of 3 one-way transfers of {args.megabytes} MB)")
    print()
    print(f"{'':20} {'direct':>10} {'via proxy':>10} {'difference':>11}")
    for label, plain, through in rows:
        print(f"{label:20} {plain:>10.3f} {through:>10.3f} {through - plain:>+11.3f}")
    added = statistics.median(proxied) - statistics.median(direct)
    verdict = "met" if added < GOAL_ADDED_MEDIAN_MS else "NOT met"
    print()
    print(
        f"added median RTT: {added:.3f} ms "
        f"(goal < {GOAL_ADDED_MEDIAN_MS:.0f} ms: {verdict}); "
        f"run took {time.perf_counter() - started:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
