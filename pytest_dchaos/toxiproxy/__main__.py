"""``python -m pytest_dchaos.toxiproxy``: a drop-in for ``toxiproxy-server``.

Flags are spelled as Toxiproxy's (``-host``, ``-port``, ``-config``, ``-seed``, with ``--``
forms accepted too). Once the API listens, exactly one line goes to stdout::

    {"event": "ready", "api": "127.0.0.1:8474", "version": "2.12.0"}

which is what a harness waits for (and where it reads the port when ``-port 0``). Logs go to
stderr. ``--exit-with-stdin`` makes the server exit when its stdin reaches end of file, so a
harness that dies, even by ``kill -9``, takes the server with it when the pipe closes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from .addresses import AddressError, join_host_port
from .api import TOXIPROXY_VERSION
from .errors import ApiError
from .server import ToxiproxyServer

logger = logging.getLogger("toxiproxy")

#: Exit status for a bad command line or an API address that cannot be bound.
EXIT_USAGE = 2


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m pytest_dchaos.toxiproxy",
        description="Toxiproxy-compatible TCP fault-injection proxy (pure Python).",
    )
    parser.add_argument(
        "-host", "--host", default="localhost", help="host for the API to listen on"
    )
    parser.add_argument(
        "-port", "--port", type=int, default=8474, help="port for the API (0: any free port)"
    )
    parser.add_argument(
        "-config", "--config", default="", help="JSON file with a list of proxies to create"
    )
    parser.add_argument(
        "-seed", "--seed", type=int, default=None, help="seed for toxicity and jitter draws"
    )
    parser.add_argument(
        "-exit-with-stdin",
        "--exit-with-stdin",
        action="store_true",
        help="exit when stdin reaches end of file",
    )
    parser.add_argument(
        "-version", "--version", action="store_true", help="print the version and exit"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.version:
        print(f"toxiproxy-server version {TOXIPROXY_VERSION} (pytest-dchaos embedded)")
        return 0
    open_files_up_to_the_hard_limit()
    logging.basicConfig(
        stream=sys.stderr,
        level=os.environ.get("LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return asyncio.run(serve(args))
    except KeyboardInterrupt:
        return 0


def open_files_up_to_the_hard_limit() -> None:
    """Every proxy is a listening socket and every connection through it two more: raise
    the soft limit on open files (often 1,024) to the hard one, as Go's runtime does for
    ``toxiproxy-server``."""
    with contextlib.suppress(ImportError, OSError, ValueError):
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY or soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


async def serve(args: argparse.Namespace) -> int:
    """Serve until SIGTERM, SIGINT or (with ``--exit-with-stdin``) end of stdin."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # Not possible off the main thread or on Windows; stdin or the caller stops us there.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    server = ToxiproxyServer(args.host, args.port, seed=args.seed)
    try:
        server.bind()
    except AddressError as exc:
        requested = join_host_port(args.host, args.port)
        print(f"toxiproxy: cannot serve the API on {requested}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.config:
            try:
                await server.load_config(args.config)
            except ApiError as exc:
                # Toxiproxy logs a bad config and carries on with what it could create.
                logger.error("populating from %s failed: %s", args.config, exc.message)
        await server.start()
        if args.exit_with_stdin:
            _watch_stdin(loop, stop)
        ready = {"event": "ready", "api": server.address, "version": server.version}
        print(json.dumps(ready), flush=True)
        await stop.wait()
    finally:
        await server.close()
        for _ in range(3):
            await asyncio.sleep(0)  # let aborted sockets finish closing
    return 0


def _watch_stdin(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set ``stop`` when stdin hits end of file; a thread, since stdin may be any file type."""

    def wait_for_eof() -> None:
        try:
            while os.read(sys.stdin.fileno(), 65536):
                pass
        except (OSError, ValueError):
            pass
        with contextlib.suppress(RuntimeError):  # the loop already closed: we are exiting
            loop.call_soon_threadsafe(stop.set)

    threading.Thread(target=wait_for_eof, name="toxiproxy-stdin", daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
