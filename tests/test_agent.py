"""The agent's and the harness's message plumbing, on real sockets and streams.

Messages travel in batches when the load is high: an agent takes every line one read
brought, and a harness link writes what several client threads queued in one call. These
tests hold the batching to what it must never do: lose, split, merge or reorder a line.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Callable
from typing import Any

import pytest

from pytest_dchaos import agent
from pytest_dchaos.agent import DELIVER, FRAME, TooLong, line_batches
from pytest_dchaos.cluster.agentlink import AgentLink
from pytest_dchaos.errors import HarnessError


def batches(chunks: list[bytes], cut_short: list[bytes] | None = None
            ) -> list[list[bytes]]:
    async def read() -> list[list[bytes]]:
        reader = asyncio.StreamReader()
        for chunk in chunks:
            reader.feed_data(chunk)
        reader.feed_eof()
        return [lines async for lines in line_batches(
            reader, None if cut_short is None else cut_short.append)]

    return asyncio.run(read())


def test_lines_that_arrive_together_come_out_together() -> None:
    assert batches([b"a\nb\nc\n"]) == [[b"a", b"b", b"c"]]


def test_a_line_split_across_reads_is_joined() -> None:
    got = [line for lines in batches([b"fir", b"st\nsec", b"ond\n"]) for line in lines]
    assert got == [b"first", b"second"]


def test_a_last_line_without_newline_goes_to_cut_short_or_is_dropped() -> None:
    cut: list[bytes] = []
    assert batches([b"a\nlast"], cut) == [[b"a"]] and cut == [b"last"]
    assert batches([b"a\ncut sho"]) == [[b"a"]]


def test_a_line_over_the_limit_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(agent, "MAX_LINE", 10)
    with pytest.raises(TooLong):
        batches([b"x" * 8, b"x" * 8])


def test_deliver_and_frame_headers_take_json_strings_with_escapes() -> None:
    line = b'{"cmd":"deliver","src":"c\\"1","type":"req","msg":{"a":1}}'
    header = DELIVER.match(line)
    assert header is not None
    assert json.loads(header[1]) == 'c"1' and line[header.end():-1] == b'{"a":1}'
    frame = b'{"id":"n1:a.1","s":"n1","t":"x\\\\y","m":{"b":2}}'
    header = FRAME.match(frame)
    assert header is not None and json.loads(header[3]) == "x\\y"
    assert FRAME.match(b'{"id":"n1:a.1","m":{"b":2}}') is None  # an old frame: dropped


class FakeAgent:
    """A listening socket that reads every line a link sends."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.lines: list[dict[str, Any]] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.getsockname()[:2]
        return host, port

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn, conn.makefile("rb") as stream:
            for line in stream:
                self.lines.append(json.loads(line))


def test_client_threads_sending_at_once_lose_and_mix_no_message() -> None:
    fake = FakeAgent()
    link = AgentLink("n1", fake.address, on_event=lambda node, event: None)
    per_thread, threads = 300, 12

    def client(index: int) -> None:
        for seq in range(per_thread):
            msg = json.dumps({"src": f"c{index}", "dest": "n1",
                              "body": {"type": "t", "seq": seq, "pad": "x" * (seq % 50)}})
            link.deliver_encoded(msg.encode(), f"c{index}", "t")

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    link.close()
    fake.thread.join(5)
    fake.server.close()
    assert len(fake.lines) == per_thread * threads
    for index in range(threads):
        mine = [line for line in fake.lines if line["src"] == f"c{index}"]
        assert [m["msg"]["body"]["seq"] for m in mine] == list(range(per_thread))
        assert all(m["cmd"] == "deliver" and m["type"] == "t" for m in mine)


class TalkingAgent(FakeAgent):
    """A fake agent that first sends ``events`` in one write, then answers every request
    (a line with an ``id``) and keeps every deliver."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.go = threading.Event()  # set once the test holds its link
        super().__init__()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        self.go.wait(10)
        conn.sendall(b"".join(json.dumps(e).encode() + b"\n" for e in self.events))
        with conn, conn.makefile("rb") as stream:
            for line in stream:
                message = json.loads(line)
                self.lines.append(message)
                if "id" in message:
                    conn.sendall(json.dumps({"id": message["id"], "ok": True}).encode() + b"\n")


def test_what_a_reader_sends_while_handling_a_read_leaves_after_it_in_order() -> None:
    events = [{"event": "client", "n": n} for n in range(3)] + [{"event": "ask"}]
    first, second = TalkingAgent(events), TalkingAgent([])
    held_while_handling: list[tuple[int, int]] = []
    answers: list[dict[str, Any]] = []
    done = threading.Event()

    def on_event(node: str, event: dict[str, Any]) -> None:
        if event["event"] == "client":
            msg = json.dumps({"src": "c1", "dest": "n1", "body": {"n": event["n"]}}).encode()
            link.deliver_encoded(msg, "c1", "t")
            other.deliver_encoded(msg, "c1", "t")
            held_while_handling.append((len(link._outbox), len(other._outbox)))
        elif event["event"] == "ask":
            # A request is awaited: it goes out at once, after what was held for its link.
            answers.append(other.call("status", timeout=5))
            done.set()

    other = AgentLink("n2", second.address, on_event=lambda node, event: None)
    link = AgentLink("n1", first.address, on_event=on_event)
    first.go.set()
    second.go.set()
    assert done.wait(10)
    link.close()
    other.close()
    for fake in (first, second):
        fake.thread.join(5)
        fake.server.close()
    assert answers == [{"id": 1, "ok": True}]
    assert held_while_handling == [(1, 1), (2, 2), (3, 3)]  # nothing left mid-read
    assert [m["msg"]["body"]["n"] for m in first.lines] == [0, 1, 2]
    assert [m.get("msg", {}).get("body", {}).get("n") for m in second.lines] == [0, 1, 2, None]
    assert second.lines[-1]["cmd"] == "status"


def converse(fake: TalkingAgent, handle: Callable[[AgentLink, dict[str, Any]], bool]) -> None:
    """Link to ``fake``, let it send its events, and hand each to ``handle(link, event)``
    (on the link's reader) until one returns True; then close both ends."""
    done = threading.Event()
    links: list[AgentLink] = []

    def on_event(node: str, event: dict[str, Any]) -> None:
        if handle(links[0], event):
            done.set()

    links.append(AgentLink("n1", fake.address, on_event=on_event))
    fake.go.set()
    try:
        assert done.wait(10)
    finally:
        links[0].close()
        fake.thread.join(5)
        fake.server.close()


def test_a_link_refuses_to_wait_for_its_agent_on_its_own_reader_thread() -> None:
    errors: list[Exception] = []

    def handle(link: AgentLink, event: dict[str, Any]) -> bool:
        try:
            link.call("status", timeout=5)
        except HarnessError as exc:
            errors.append(exc)
        return True

    converse(TalkingAgent([{"event": "ask"}]), handle)
    assert len(errors) == 1 and "reader thread" in str(errors[0])


def test_a_handler_that_raises_does_not_stop_the_reader(
        caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    def handle(link: AgentLink, event: dict[str, Any]) -> bool:
        seen.append(event["event"])
        if event["event"] == "boom":
            raise ValueError("a bug in a handler")
        return True

    converse(TalkingAgent([{"event": "boom"}, {"event": "after"}]), handle)
    assert seen == ["boom", "after"]
    assert "a bug in a handler" in caplog.text
