"""Report folders written file by file, as a run leaves them, for the page's tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

T0 = 1_700_000_000.0
#: Text a node or a check could print that must reach the page as text, never as markup.
HOSTILE = '</script><script>alert("x")</script><img src=x onerror=alert(1)> & <b>bold</b>'
TYPES = ("gossip", "ping", "sync")


def write_folder(path: Path, *, messages: int = 60, protocol: str | None = "gossip",
                 with_facts: bool = True, nodes: int = 3) -> Path:
    """A gossip-like report folder: a kill of n2 from 2 s to 4 s, a partition from 5 s that
    never ended, a pause of n3, membership samples, ``messages`` node-to-node messages
    (every tenth dropped, the last never arriving) and a node log with markup in it."""
    path.mkdir(parents=True, exist_ok=True)
    ids = [f"n{i}" for i in range(1, nodes + 1)]
    checks = [
        {"name": "convergence", "status": "pass", "passed": True, "evidence": "observed",
         "detail": "all 3 values on all 3 live nodes", "witness": {}, "figures": {"ok": 3}},
        {"name": "failure_detection", "status": "fail", "passed": False,
         "evidence": "reported", "detail": f"n1 said {HOSTILE}\nsecond line",
         "witness": {"late": ["n2"], "text": HOSTILE}, "figures": {}},
    ]
    result: dict[str, Any] = {
        "scenario": "synthetic", "passed": False, "seed": 7, "run_id": "abcd1234",
        "backend": "local", "scenario_path": "scenarios/synthetic.yaml", "checks": checks,
        "stats": {"ops": {"total": 4, "ok": 2, "fail": 1, "info": 1},
                  "latency_ms": {"count": 2, "p0": 1.0, "p50": 2.0, "p95": 3.0, "p99": 3.0,
                                 "max": 3.0},
                  "msgs_per_op": {"servers": 1.5}, "nodes": nodes},
        "notes": ["a note with <markup>"], "rerun_flags": [],
    }
    if with_facts:
        result["run"] = {
            "protocol": protocol, "implementation": "reference", "nodes": ids, "twins": [],
            "t0": T0, "phases": {"workload_end": 8.0, "healed": 8.1, "final_end": 9.0},
            "down_at_end": [], "artifacts": [],
            "incidents": [{"time": 6.5, "node": "n1", "kind": "bad_output",
                           "detail": HOSTILE}],
            "scenario_text": f"name: synthetic\n# {HOSTILE}\nprotocol: gossip\n",
        }
    (path / "result.json").write_text(json.dumps(result, indent=1))
    ops = [
        {"index": 0, "process": "c1", "type": "invoke", "f": "broadcast", "value": 1,
         "time": 0.5, "node": "n1"},
        {"index": 1, "process": "c1", "type": "ok", "f": "broadcast", "value": 1,
         "time": 0.502, "node": "n1"},
        {"index": 2, "process": "c2", "type": "invoke", "f": "read", "value": None,
         "time": 2.5, "node": "n2"},
        {"index": 3, "process": "c2", "type": "fail", "f": "read", "value": None,
         "time": 2.6, "node": "n2", "error": "crashed"},
        {"index": 4, "process": "c1", "type": "invoke", "f": "broadcast", "value": 2,
         "time": 5.5, "node": "n3"},
        {"index": 5, "process": "c1", "type": "info", "f": "broadcast", "value": 2,
         "time": 7.5, "node": "n3", "error": "timeout"},
        {"index": 6, "process": "c2", "type": "invoke", "f": "read", "value": None,
         "time": 6.0, "node": "n1"},
        {"index": 7, "process": "c2", "type": "ok", "f": "read", "value": [1],
         "time": 6.003, "node": "n1"},
    ]
    (path / "history.jsonl").write_text("".join(json.dumps(o) + "\n" for o in ops))
    faults = [
        _fault(2.0, "start", "f1", "kill", "kill n2", ["n2"], "crash"),
        _fault(4.0, "end", "f1", "kill", "kill n2", ["n2"], "crash"),
        _fault(3.0, "start", "f2", "pause", "pause n3", ["n3"], "pause"),
        _fault(3.5, "end", "f2", "pause", "pause n3", ["n3"], "pause"),
        _fault(5.0, "start", "f3", "partition", f"partition n1 | n2 n3 {HOSTILE}", ids,
               "cut"),
        _fault(6.0, "start", "f4", "restart", "restart n1", ["n1"], "restart"),
    ]
    (path / "faults.jsonl").write_text("".join(json.dumps(f) + "\n" for f in faults))
    write_trace(path / "trace.jsonl", messages, ids)
    samples = [{"t": t / 2, "views": {
        o: {m: ("dead" if m == "n2" and 2.5 <= t / 2 < 4.5 and o != m else "alive")
            for m in ids}
        for o in ids if not (o == "n2" and 2.0 <= t / 2 < 4.0)}} for t in range(0, 18)]
    (path / "observations.json").write_text(json.dumps({"membership": samples}))
    (path / "states.json").write_text(json.dumps({"n1": {"view": 0}}))
    node_dir = path / "nodes" / "n1"
    node_dir.mkdir(parents=True, exist_ok=True)
    (node_dir / "stderr.log").write_text(f"starting\n{HOSTILE}\nbye\n")
    return path


def write_trace(target: Path, messages: int, ids: list[str]) -> None:
    """``messages`` sends spread over 8 s, each received 5 ms later, except every tenth
    (dropped) and the last (never arrives); a client message every tenth."""
    span = 8.0
    lines = []
    for i in range(messages):
        t = T0 + span * i / max(messages, 1)
        src, dest = ids[i % len(ids)], ids[(i + 1) % len(ids)]
        kind = TYPES[i % len(TYPES)]
        mid = f"{src}-{i}"
        base = {"id": mid, "src": src, "dest": dest, "type": kind, "size": 40}
        lines.append({"t": t, "ev": "send", **base})
        if i == messages - 1:
            continue
        if i % 10 == 9:
            lines.append({"t": t + 0.002, "ev": "drop", **base, "why": "link down"})
        else:
            lines.append({"t": t + 0.005, "ev": "recv", **base})
        if i % 10 == 0:
            lines.append({"t": t + 0.001, "ev": "client_in", "id": f"c{i}", "src": "c1",
                          "dest": src, "type": "read", "size": 10})
    lines.sort(key=lambda e: e["t"])
    with open(target, "w", encoding="utf-8") as out:
        for event in lines:
            out.write(json.dumps(event, separators=(",", ":")) + "\n")


def _fault(t: float, action: str, key: str, kind: str, description: str, nodes: list[str],
           effect: str) -> dict[str, Any]:
    return {"time": t, "action": action, "key": key, "kind": kind,
            "description": description, "nodes": nodes, "effect": effect, "links": []}


def figures(page: str) -> dict[str, Any]:
    """The figures' JSON the page carries."""
    start = page.index('<script type="application/json" id="figures">')
    start = page.index(">", start) + 1
    end = page.index("</script>", start)
    data: dict[str, Any] = json.loads(page[start:end])
    return data


def without_scripts(page: str) -> str:
    """The page's markup, without the contents of its script elements."""
    out, rest = [], page
    while "<script" in rest:
        head, _, tail = rest.partition("<script")
        out.append(head)
        rest = tail.partition("</script>")[2]
    out.append(rest)
    return "".join(out)
