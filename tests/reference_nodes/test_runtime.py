"""The shared node runtime (reference_nodes.common.maelstrom).

Most tests drive a Node in this process through a pipe — fast and deterministic; a few run
real processes to check what only a process shows (exit on end of file, a clean stdout).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import select
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_dchaos.testing import Router, eventually
from reference_nodes.common.maelstrom import Node, Params, RPCError, optional, require

from . import echo_node
from .conftest import REPO_ROOT

ECHO_COMMAND = (sys.executable, str(Path(__file__).with_name("echo_node.py")))
INIT = {"src": "c0", "dest": "n1",
        "body": {"type": "init", "msg_id": 1, "node_id": "n1", "node_ids": ["n1", "n2"]}}


def line(body: dict[str, Any], src: str = "c1") -> bytes:
    return json.dumps({"src": src, "dest": "n1", "body": body}).encode() + b"\n"


def run_node(*chunks: bytes, hold: float = 0.05,
             extend: Callable[[Node], None] | None = None) -> list[dict]:
    """Feed ``chunks`` to an echo node's stdin, keep it open ``hold`` s, then end it;
    ``extend`` adds to the node before it runs.

    Returns every message the node wrote, parsed (so a non-JSON line fails the test).
    """
    read_fd, write_fd = os.pipe()
    out = io.BytesIO()
    node = echo_node.build(Node(stdin_fd=read_fd, stdout=out))
    if extend is not None:
        extend(node)

    def feed() -> None:  # from another thread, as from the agent: the pipe may fill
        for chunk in chunks:
            os.write(write_fd, chunk)

    async def drive() -> int:
        task = asyncio.ensure_future(node.main())
        writer = threading.Thread(target=feed)
        writer.start()
        while writer.is_alive():
            await asyncio.sleep(0.005)
        await asyncio.sleep(hold)
        os.close(write_fd)
        return await asyncio.wait_for(task, 5)

    try:
        assert asyncio.run(drive()) == 0
    finally:
        os.close(read_fd)
    return [json.loads(raw) for raw in out.getvalue().splitlines()]


def replies_to(messages: list[dict], msg_id: int) -> list[dict]:
    return [m["body"] for m in messages if m["body"].get("in_reply_to") == msg_id]


def test_init_is_answered_and_stored() -> None:
    init = json.loads(json.dumps(INIT))
    init["body"]["dchaos"] = {"params": {"answer": 7}, "keys": {"n1": "k"}}
    out = run_node(json.dumps(init).encode() + b"\n", line({"type": "whoami", "msg_id": 2}))
    assert replies_to(out, 1) == [{"type": "init_ok", "in_reply_to": 1,
                                   "msg_id": replies_to(out, 1)[0]["msg_id"]}]
    who = replies_to(out, 2)[0]
    assert who["node_id"] == "n1" and who["node_ids"] == ["n1", "n2"]
    assert who["answer"] == 7 and who["dchaos"]["keys"] == {"n1": "k"}
    assert all(m["src"] == "n1" for m in out)


def test_declared_extensions_are_listed_in_init_ok_and_repeated_init() -> None:
    def extend(node: Node) -> None:
        node.on("members", lambda msg: {"type": "members_ok"})
        node.on("dchaos_state", lambda msg: {"type": "dchaos_state_ok"})
        node.declare_extensions("members", "dchaos_state", "members")

    out = run_node(json.dumps(INIT).encode() + b"\n", json.dumps(INIT).encode() + b"\n",
                   extend=extend)
    answers = replies_to(out, 1)
    assert len(answers) == 2
    assert all(a["dchaos"] == {"extensions": ["members", "dchaos_state"]} for a in answers)


def test_an_extension_without_its_handler_cannot_be_declared() -> None:
    with pytest.raises(ValueError, match="no handler for extension"):
        Node().declare_extensions("dchaos_byzantine")


def test_bad_parameter_fails_init_with_a_clear_error() -> None:
    init = json.loads(json.dumps(INIT))
    init["body"]["dchaos"] = {"params": {"answer": "lots"}}
    out = run_node(json.dumps(init).encode() + b"\n", line({"type": "echo", "msg_id": 2}))
    error = replies_to(out, 1)[0]
    assert error["type"] == "error" and error["code"] == 12
    assert "dchaos.params.answer" in error["text"]
    assert replies_to(out, 2)[0]["code"] == 11  # still not initialised


def test_requests_before_init_are_temporarily_unavailable() -> None:
    out = run_node(line({"type": "echo", "msg_id": 5}))
    assert replies_to(out, 5)[0]["code"] == 11


def test_unknown_type_is_not_supported() -> None:
    out = run_node(json.dumps(INIT).encode() + b"\n", line({"type": "frobnicate", "msg_id": 2}))
    error = replies_to(out, 2)[0]
    assert error["type"] == "error" and error["code"] == 10 and "frobnicate" in error["text"]


@pytest.mark.parametrize("raw", [
    b"this is not json",
    b"[1, 2, 3]",
    b'{"src": "c1", "dest": "n1"}',
    b'{"src": "c1", "dest": "n1", "body": "text"}',
    b'{"src": 5, "dest": "n1", "body": {"type": "echo"}}',
    b'{"src": "c1", "dest": "n1", "body": {"type": "echo", "msg_id": "one"}}',
    b"\xff\xfe not utf-8",
    b"   ",
])
def test_garbage_is_logged_not_answered_and_not_fatal(raw: bytes) -> None:
    out = run_node(json.dumps(INIT).encode() + b"\n", raw + b"\n",
                   line({"type": "echo", "echo": "still here", "msg_id": 2}))
    assert [m["body"]["type"] for m in out] == ["init_ok", "echo_ok"]


@pytest.mark.parametrize("body", [
    {"msg_id": 7},  # no type
    {"type": 3, "msg_id": 7},  # type not a string
    {"type": "ask", "msg_id": 7},  # a handler's own validation: missing field
    {"type": "ask", "peer": ["n2"], "msg_id": 7},  # ... and a wrong type
])
def test_malformed_requests_with_msg_id_get_error_12(body: dict[str, Any]) -> None:
    out = run_node(json.dumps(INIT).encode() + b"\n", line(body))
    error = replies_to(out, 7)[0]
    assert error["type"] == "error" and error["code"] == 12, error


def test_lines_split_across_reads_and_long_lines_arrive_whole() -> None:
    big = "x" * 300_000  # several pipe reads long
    request = line({"type": "echo", "echo": big, "msg_id": 2})
    two = line({"type": "echo", "echo": 3, "msg_id": 3}) + line({"type": "echo", "msg_id": 4})
    out = run_node(json.dumps(INIT).encode() + b"\n", request[:10], request[10:70_000],
                   request[70_000:], two[:-1], two[-1:])
    assert replies_to(out, 2)[0]["echo"] == big
    assert replies_to(out, 3)[0]["echo"] == 3 and replies_to(out, 4)[0]["type"] == "echo_ok"


def test_stdin_from_a_file_is_read_too(tmp_path: Path) -> None:
    # Not a pipe: the event loop cannot watch a file, so a thread reads it.
    script = tmp_path / "input.jsonl"
    script.write_bytes(json.dumps(INIT).encode() + b"\n"
                       + line({"type": "echo", "echo": "from a file", "msg_id": 2})[:-1])
    out = io.BytesIO()
    with script.open("rb") as stdin:
        node = echo_node.build(Node(stdin_fd=stdin.fileno(), stdout=out))
        assert asyncio.run(asyncio.wait_for(node.main(), 5)) == 0
    messages = [json.loads(raw) for raw in out.getvalue().splitlines()]
    assert replies_to(messages, 2)[0]["echo"] == "from a file"  # the last line had no newline


def test_handler_crash_is_error_13_and_the_node_keeps_going() -> None:
    out = run_node(json.dumps(INIT).encode() + b"\n", line({"type": "boom", "msg_id": 2}),
                   line({"type": "echo", "echo": 1, "msg_id": 3}))
    assert replies_to(out, 2)[0]["code"] == 13 and "kaboom" in replies_to(out, 2)[0]["text"]
    assert replies_to(out, 3)[0]["echo"] == 1


def test_replies_are_never_answered_with_errors() -> None:
    out = run_node(json.dumps(INIT).encode() + b"\n",
                   line({"type": "nonsense_ok", "in_reply_to": 99, "msg_id": 4}, src="n2"),
                   line({"type": "error", "code": 10, "in_reply_to": 98, "msg_id": 5}, src="n2"))
    assert [m["body"]["type"] for m in out] == ["init_ok"]


def test_rpc_timeout_and_timers() -> None:
    out = run_node(json.dumps(INIT).encode() + b"\n",
                   line({"type": "ask", "peer": "n2", "timeout": 0.05, "msg_id": 2}),
                   hold=0.3)
    asked = [m for m in out if m["dest"] == "n2"]
    assert asked and asked[0]["body"]["type"] == "echo" and "msg_id" in asked[0]["body"]
    assert replies_to(out, 2) == [{"type": "ask_ok", "error": 0, "in_reply_to": 2,
                                   "msg_id": replies_to(out, 2)[0]["msg_id"]}]


def test_rpc_between_processes(tmp_path: Path) -> None:
    with Router(["n1", "n2"], log_dir=tmp_path, command=ECHO_COMMAND) as router:
        router.start()
        reply = router.rpc("n1", {"type": "ask", "peer": "n2", "echo": "hi"})
        assert reply["reply"]["type"] == "echo_ok" and reply["reply"]["echo"] == "hi"
        ticks = router.rpc("n2", {"type": "ticks"})["ticks"]
        assert eventually(lambda: _more(router.rpc("n2", {"type": "ticks"})["ticks"], ticks), 3)
        router.send_line("n1", b'{"src": "c1", "dest": "n1", "body": {"msg_id": 1000001}}')
        eventually(lambda: _error_for(router.unclaimed, 1000001, 12), 3)
        assert router.bad_output == []


def _more(now: int, before: int) -> bool:
    assert now > before
    return True


def _error_for(bodies: list[dict], msg_id: int, code: int) -> None:
    assert any(b.get("in_reply_to") == msg_id and b.get("code") == code for b in bodies), bodies


def test_process_exits_cleanly_on_end_of_input_and_prints_only_messages() -> None:
    lines = [
        json.dumps(INIT), "garbage", '{"half": ',
        json.dumps({"src": "c1", "dest": "n1", "body": {"type": "read", "msg_id": 2}}),
    ]
    result = subprocess.run([sys.executable, "-m", "reference_nodes.gossip"],
                            input="\n".join(lines) + "\n", capture_output=True, text=True,
                            timeout=20, cwd=REPO_ROOT, check=False)
    assert result.returncode == 0, result.stderr
    bodies = [json.loads(raw)["body"] for raw in result.stdout.splitlines()]
    assert {"init_ok", "read_ok"} <= {b["type"] for b in bodies}
    assert "not JSON" in result.stderr


def test_require_and_optional() -> None:
    body = {"type": "t", "n": 3, "flag": True, "f": 1.5, "s": "x"}
    assert require(body, "n", int) == 3
    assert require(body, "n", float) == 3  # an integer is a number
    assert require(body, "f", float) == 1.5
    with pytest.raises(RPCError) as info:
        require(body, "flag", int)  # JSON true is not an integer
    assert info.value.code == 12 and "'flag'" in info.value.text
    with pytest.raises(RPCError):
        require(body, "missing", str)
    assert optional(body, "missing", str, "default") == "default"
    assert optional(body, "s", (str, int)) == "x"


def test_params() -> None:
    params = Params({"a_ms": 250, "n": 3, "on": False, "mode": "x", "typo": 1})
    assert params.duration("a_ms", 100) == 0.25
    assert params.duration("b_ms", 100) == 0.1
    assert params.integer("n", 1, minimum=1) == 3
    assert params.boolean("on", True) is False
    assert params.choice("mode", "y", ("x", "y")) == "x"
    assert params.unused() == ["typo"]
    for bad in ({"a_ms": "fast"}, {"a_ms": -1}, {"a_ms": True}):
        with pytest.raises(RPCError, match="a_ms"):
            Params(bad).duration("a_ms", 100)
    with pytest.raises(RPCError, match="one of 'x', 'y'"):
        Params({"mode": "z"}).choice("mode", "x", ("x", "y"))
    with pytest.raises(RPCError, match="n must be an integer"):
        Params({"n": 0}).integer("n", 1, minimum=1)


def test_send_all_writes_one_message_per_destination() -> None:
    out = io.BytesIO()
    node = Node(stdout=out)
    node.node_id = "n1"
    body = {"type": "gossip", "items": [1, "é", {"k": None}]}
    node.send_all(["n2", "n3"], body)
    sent = [json.loads(raw) for raw in out.getvalue().splitlines()]
    assert sent == [{"src": "n1", "dest": dest, "body": body} for dest in ("n2", "n3")]


def test_a_nodes_lines_wait_for_the_flush_even_when_python_runs_unbuffered() -> None:
    # Under PYTHONUNBUFFERED (python -u; the Docker images set it) sys.stdout.buffer writes
    # each line at once: a system call per message, and a wake-up of the agent for each.
    # The runtime's own stdout holds what one callback writes until it returns.
    script = ("import sys\n"
              "from reference_nodes.common.maelstrom import _message_stdout\n"
              "out = _message_stdout()\n"
              "out.write(b'first\\n')\n"
              "print('written', file=sys.stderr, flush=True)\n"
              "sys.stdin.readline()\n"
              "out.flush()\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO_ROOT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdin and proc.stdout and proc.stderr
    try:
        assert proc.stderr.readline() == b"written\n"
        assert select.select([proc.stdout], [], [], 0.2)[0] == [], "the line went out alone"
        proc.stdin.write(b"go\n")
        proc.stdin.flush()
        assert proc.stdout.read() == b"first\n"
    finally:
        proc.kill()
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            stream.close()
