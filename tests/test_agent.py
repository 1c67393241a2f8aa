"""The agent's and the harness's message plumbing, on real sockets and streams.

Messages travel in batches when the load is high: an agent takes every line one read
brought, and a harness link writes what several client threads queued in one call. These
tests hold the batching to what it must never do: lose, split, merge or reorder a line.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import socket
import threading
from collections.abc import Callable
from pathlib import Path
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


# -- message rules: what a node's outgoing messages become on a real link ---------------------


def route(lines: list[bytes], rules: list[dict[str, Any]], workdir: str,
          seed: int = 7) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run an agent (node n1, one link to n2 served by a fake agent) with ``rules``, have
    its node print ``lines``, and return the frames n2's side received (their ``m`` kept
    as the raw bytes the node's line became) and the agent's trace."""
    os.makedirs(workdir, exist_ok=True)
    fake = RawAgent()

    async def run() -> None:
        node = agent.Agent(workdir)
        node.node_id = "n1"
        node.rng = random.Random(seed)
        node.rules = [agent.Rule(spec) for spec in rules]
        node.links = {"n2": agent.PeerLink(node, "n2", fake.address)}
        for line in lines:
            node._from_node(line)
        await asyncio.sleep(0.05)  # the link dials and flushes
        for link in node.links.values():
            link.close()
        node.trace.close()

    asyncio.run(run())
    fake.thread.join(5)
    fake.server.close()
    with open(f"{workdir}/trace.jsonl", encoding="utf-8") as trace:
        return fake.frames, [json.loads(line) for line in trace]


class RawAgent(FakeAgent):
    """A fake agent keeping each frame's header and the node's line as raw bytes."""

    def __init__(self) -> None:
        self.frames: list[dict[str, Any]] = []
        super().__init__()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn, conn.makefile("rb") as stream:
            for frame in stream:
                header = FRAME.match(frame)
                assert header is not None
                self.frames.append({"id": json.loads(header[1]),
                                    "m": frame[header.end():].rstrip(b"\n")[:-1]})


def line(body: dict[str, Any], spaced: bool = False) -> bytes:
    msg = {"src": "n1", "dest": "n2", "body": body}
    return json.dumps(msg, separators=(", ", ": ") if spaced else (",", ":")).encode()


def bodies(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [json.loads(f["m"])["body"] for f in frames]


def test_mutate_moves_one_named_field_by_one_and_the_trace_says_which(tmp_path: Path) -> None:
    sent = [{"type": "prepare", "view": 3, "seq": 10 + i, "msg_id": i} for i in range(20)]
    frames, trace = route([line(b) for b in sent],
                          [{"mutate": 1.0, "fields": ["view"]}], str(tmp_path))
    got = bodies(frames)
    assert [b["seq"] for b in got] == [b["seq"] for b in sent]
    assert [b["msg_id"] for b in got] == list(range(20))
    assert {b["view"] for b in got} == {2, 4}  # both directions drawn, always one step
    mutations = [e for e in trace if e["ev"] == "mutate"]
    assert [e["why"] for e in mutations] == [f"view 3->{b['view']}" for b in got]
    assert [e["id"] for e in mutations] == [f["id"] for f in frames]
    # What the link carried is JSON of the mutated message, its size as recorded.
    assert [e["size"] for e in mutations] == [len(f["m"]) for f in frames]


def test_mutate_by_default_takes_any_integer_but_the_correlation_ids(tmp_path: Path) -> None:
    sent = {"type": "t", "msg_id": 5, "in_reply_to": 4, "ok": True, "name": "x",
            "ratio": 0.5, "view": 1, "seq": 9}
    frames, trace = route([line(sent)] * 40, [{"mutate": 1.0}], str(tmp_path))
    changed: set[str] = set()
    for body in bodies(frames):
        diff = [k for k in sent if body[k] != sent[k]]
        assert len(diff) == 1 and abs(body[diff[0]] - sent[diff[0]]) == 1
        changed |= set(diff)
    assert changed == {"view", "seq"}
    assert sum(e["ev"] == "mutate" for e in trace) == 40


def test_a_body_with_nothing_to_mutate_goes_as_printed_and_no_mutation_is_recorded(
        tmp_path: Path) -> None:
    untouchable = line({"type": "t", "msg_id": 1, "flag": False, "text": "7"}, spaced=True)
    wrong_field = line({"type": "t", "seq": 2}, spaced=True)
    frames, trace = route([untouchable, wrong_field],
                          [{"mutate": 1.0, "fields": ["view"]}], str(tmp_path))
    assert [f["m"] for f in frames] == [untouchable, wrong_field]
    assert not any(e["ev"] == "mutate" for e in trace)


def test_messages_no_mutation_rule_matches_are_not_parsed_again(tmp_path: Path) -> None:
    # Spaced JSON would come out of a re-encoding without its spaces: the bytes show the
    # line went through untouched.
    other = line({"type": "gossip", "view": 1}, spaced=True)
    hit = line({"type": "prepare", "view": 1}, spaced=True)
    frames, _ = route([other, hit], [{"mutate": 1.0, "types": ["prepare"]}], str(tmp_path))
    assert frames[0]["m"] == other
    assert frames[1]["m"] != hit and b", " not in frames[1]["m"]


def test_replay_sends_an_earlier_message_to_the_same_dest_again(tmp_path: Path) -> None:
    sent = [line({"type": "commit", "seq": i}) for i in range(3)]
    frames, trace = route(sent, [{"replay": 1.0}], str(tmp_path))
    # The first has nothing earlier to replay; each later one brings one earlier copy.
    assert [b["seq"] for b in bodies(frames)][:2] == [0, 1]
    assert len(frames) == 5
    ids = [e["id"] for e in trace if e["ev"] == "send"]
    replays = [e for e in trace if e["ev"] == "replay"]
    assert len(replays) == 2
    assert replays[0]["id"] == ids[0] and replays[0]["why"] == f"with {ids[1]}"
    assert replays[1]["id"] in ids[:2]
    replayed = [f for f in frames if f["id"] in {r["id"] for r in replays}
                and frames.index(f) != ids.index(f["id"])]
    assert all(f["m"] == sent[ids.index(f["id"])] for f in replayed)


def test_replay_remembers_only_recent_messages_of_its_types(tmp_path: Path) -> None:
    sent = [line({"type": "commit", "seq": i}) for i in range(60)]
    sent += [line({"type": "reply", "seq": 1000 + i}) for i in range(5)]
    frames, trace = route(sent, [{"replay": 1.0, "types": ["commit"]}], str(tmp_path))
    assert len(frames) == 65 + 59  # the replies bring none
    ids = [e["id"] for e in trace if e["ev"] == "send"]
    for event in (e for e in trace if e["ev"] == "replay"):
        replayed, at = ids.index(event["id"]), ids.index(event["why"].removeprefix("with "))
        assert at - agent.REPLAY_MEMORY <= replayed < at < 60


def test_mutations_and_replays_are_the_same_for_the_same_seed(tmp_path: Path) -> None:
    sent = [line({"type": "p", "view": 0, "seq": i}) for i in range(30)]
    rules = [{"mutate": 0.5, "replay": 0.5}]
    runs = [route(sent, rules, str(tmp_path / str(i)))[0] for i in range(2)]
    other = route(sent, rules, str(tmp_path / "other"), seed=8)[0]
    assert [f["m"] for f in runs[0]] == [f["m"] for f in runs[1]]
    assert [f["m"] for f in runs[0]] != [f["m"] for f in other]
