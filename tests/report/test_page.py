"""The report page, built from a report folder written file by file."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from plotly.offline import get_plotlyjs

from pytest_dchaos.families.gossip.family import Gossip
from pytest_dchaos.record import page, report
from pytest_dchaos.record.folder import ReportFolder
from tests.report.folders import HOSTILE, T0, TYPES, figures, without_scripts, write_folder


@pytest.fixture
def folder(tmp_path: Path) -> ReportFolder:
    return ReportFolder.load(write_folder(tmp_path / "run"))


def test_the_page_carries_plotly_once_and_fetches_nothing(folder: ReportFolder) -> None:
    text = page.build(folder, Gossip().report_lanes)
    plotly = get_plotlyjs()
    assert text.count(plotly[:200]) == 1
    markup = without_scripts(text)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", markup)
    assert "<link" not in markup and "@import" not in text.split("<script", 1)[0]
    assert re.findall(r"<script(?: [^>]*)?>", text) == [
        "<script>", '<script type="application/json" id="figures">', "<script>",
        "<script>"]


def test_untrusted_text_is_shown_as_text(folder: ReportFolder) -> None:
    text = page.build(folder, Gossip().report_lanes)
    markup = without_scripts(text)
    assert HOSTILE not in text  # nowhere raw, not even in the figures' JSON
    assert "<img" not in markup and 'alert("x")' not in markup
    escaped = ('&lt;/script&gt;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img '
               'src=x onerror=alert(1)&gt; &amp; &lt;b&gt;bold&lt;/b&gt;')
    # the check's detail and witness, the incident, the node's log, the scenario's YAML
    assert markup.count(escaped) >= 3
    assert "&lt;markup&gt;" in markup  # a note
    # Plotly reads tags in labels: what it shows is escaped for it, and the JSON cannot
    # close its script element.
    data = json.dumps(figures(text))
    assert "<script" not in data and "&lt;/script&gt;" in data


def test_verdicts_link_the_raw_files_their_evidence_comes_from(folder: ReportFolder) -> None:
    text = page.build(folder)
    rows = re.findall(r'<tr class="verdict" data-status="(\w+)">(.*?)</tr>', text, re.S)
    assert [status for status, _ in rows] == ["pass", "fail"]
    observed, reported = (row for _, row in rows)
    assert 'class="evidence evidence-observed">observed<' in observed
    assert re.findall(r'href="([^"]+)"', observed) == [
        "history.jsonl", "trace.jsonl", "faults.jsonl"]
    assert 'evidence-reported">reported<' in reported
    assert re.findall(r'href="([^"]+)"', reported) == ["states.json", "observations.json"]
    assert 'href="nodes/n1/stderr.log"' in text


def test_latency_throughput_and_faults(folder: ReportFolder) -> None:
    ops = figures(page.build(folder))["ops"]
    latency = {t["name"]: t for t in ops["data"] if t["type"] == "scattergl"}
    assert set(latency) == {"ok", "fail", "unknown (info)"}
    assert latency["ok"]["x"] == [0.5, 6.0] and latency["fail"]["x"] == [2.5]
    assert latency["unknown (info)"]["y"] == [2000.0]  # given up after 2 s
    bars = [t for t in ops["data"] if t["type"] == "bar"]
    assert sum(sum(t["y"]) for t in bars) == 4  # one-second bins, per second
    shapes = ops["layout"]["shapes"]
    shaded = {s["label"]["text"]: (s["x0"], s["x1"]) for s in shapes if s["type"] == "rect"}
    # The kill and the pause ended; the partition never did: shaded to the run's end.
    assert shaded["f1 kill"] == (2.0, 4.0) and shaded["f2 pause"] == (3.0, 3.5)
    assert shaded["f3 partition (never ended)"] == (5.0, 9.0)
    lines = [s for s in shapes if s["type"] == "line"]
    assert any(s.get("label", {}).get("text") == "f4 restart" for s in lines)


def test_timeline_has_every_node_every_fault_and_the_familys_lanes(
        folder: ReportFolder) -> None:
    timeline = figures(page.build(folder, Gossip().report_lanes))["timeline"]
    rows = timeline["layout"]["yaxis"]["categoryarray"]
    assert rows[:3] == ["n1", "n2", "n3"]
    assert rows[3:7] == ["f1 kill", "f2 pause", "f3 partition", "f4 restart"]
    assert rows[7:] == ["n1 sees", "n2 sees", "n3 sees"]
    states = {t["name"]: t for t in timeline["data"] if t["type"] == "bar"}
    down = states["down"]
    assert list(zip(down["y"], down["base"], down["x"], strict=True)) == [("n2", 2.0, 2.0)]
    assert states["paused"]["y"] == ["n3"]
    assert "dead" in states and "n1 sees" in states["dead"]["y"]
    events = next(t for t in timeline["data"] if t["name"] == "events")
    assert ("n1", 6.0) in zip(events["y"], events["x"], strict=True)  # the restart


def test_without_the_family_the_page_says_so(folder: ReportFolder) -> None:
    text = page.build(folder, None)
    assert "No lanes of gossip&#39;s own" in text

    def broken(_: ReportFolder) -> list[object]:
        raise RuntimeError("lane bug")

    text = page.build(folder, broken)  # type: ignore[arg-type]
    assert "lanes could not be drawn (RuntimeError: lane bug)" in text


def test_space_time_diagram_draws_every_message(folder: ReportFolder) -> None:
    text = page.build(folder)
    diagram = figures(text)["spacetime"]
    traces = {t["name"]: t for t in diagram["data"]}
    assert set(traces) == {*TYPES, "dropped", "drop", "never arrived"}
    received = sum(len(traces[k]["x"]) // 3 for k in TYPES)
    assert received == 60 - 5 - 1  # every tenth dropped, the last (a tenth) never arrived
    assert all(t["type"] == "scattergl" for t in traces.values())
    assert traces["gossip"]["x"][2] is None  # None-separated segments
    assert len(traces["drop"]["x"]) == 5 and len(traces["never arrived"]["x"]) == 1
    assert diagram["layout"]["yaxis"]["categoryarray"] == ["n1", "n2", "n3"]
    assert "60 node-to-node message(s) drawn" in text
    assert "Not drawn: 6 client message event(s)" in text
    assert "later message(s)" not in text


def test_service_traffic_is_counted_apart_from_clients(tmp_path: Path) -> None:
    run = write_folder(tmp_path / "run")
    with open(run / "trace.jsonl", "a", encoding="utf-8") as trace:
        for ev, src, dest, kind in (("client_out", "n1", "seq-kv", "read"),
                                    ("client_in", "seq-kv", "n1", "read_ok")):
            trace.write(json.dumps({"t": T0 + 1, "ev": ev, "id": "", "src": src,
                                    "dest": dest, "type": kind, "size": 30}) + "\n")
    text = page.build(ReportFolder.load(run))
    assert "Not drawn: 6 client message event(s)" in text
    assert "Not drawn: 2 message(s) between nodes and Maelstrom&#39;s services" in text
    assert figures(text)["spacetime"]["layout"]["yaxis"]["categoryarray"] == ["n1", "n2", "n3"]


def test_a_capped_diagram_says_what_it_left_out(folder: ReportFolder,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(page, "MAX_MESSAGES", 20)
    text = page.build(folder)
    traces = figures(text)["spacetime"]["data"]
    assert sum(len(t["x"]) // 3 for t in traces if t["name"] in TYPES) == 18
    assert "Not drawn: 40 later message(s), sent from 2.67s on" in text
    assert "the diagram stops at 20 messages" in text


def test_statistics_and_the_scenario_as_run(folder: ReportFolder) -> None:
    text = page.build(folder)
    assert "<code>latency_ms</code></td><td>count 2, p0 1, p50 2" in text
    assert "dchaos run scenarios/synthetic.yaml --seed 7 --backend local" in text
    assert '<pre id="scenario-yaml">name: synthetic\n# &lt;/script&gt;' in text


def test_an_older_folder_still_makes_a_page(tmp_path: Path) -> None:
    folder = ReportFolder.load(write_folder(tmp_path / "old", with_facts=False))
    text = page.build(folder)
    assert "does not record the run&#39;s time zero" in text
    assert "does not keep the scenario's text" in text
    diagram = figures(text)["spacetime"]
    assert diagram["data"][0]["x"][0] == 0.0  # placed from the first message
    assert "protocol: unknown" in report.markdown(folder)


def test_a_page_that_fails_costs_only_itself(folder: ReportFolder,
                                             monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*_: object) -> str:
        raise ValueError("a bug in the page")

    (folder.path / page.PAGE).write_text("an older page")
    monkeypatch.setattr(page, "build", broken)
    assert report.render(folder) is False
    err = capsys.readouterr().err
    assert f"{folder.path / page.PAGE} could not be written (ValueError: a bug in the page)" in err
    assert not (folder.path / page.PAGE).exists()
    summary = (folder.path / "summary.md").read_text()
    assert "# synthetic: FAILED" in summary and "report.html" not in summary


def test_a_hundred_thousand_messages_stay_webgl_segments(tmp_path: Path) -> None:
    # Not timed (the machine is shared): the structure that keeps it fast is checked.
    folder = ReportFolder.load(write_folder(tmp_path / "big", messages=100_000))
    text = page.build(folder)
    diagram = figures(text)["spacetime"]
    lines = [t for t in diagram["data"] if t["name"] in TYPES]
    assert len(lines) == len(TYPES)  # one trace per message type
    assert all(t["type"] == "scattergl" for t in diagram["data"])
    assert sum(len(t["x"]) for t in lines) == 3 * (100_000 - 9_999 - 1)
    assert "100000 node-to-node message(s) drawn" in text
    # No DOM per message: the markup is the same size as a small run's, and the figures
    # cost a few tens of bytes a message.
    assert len(without_scripts(text)) < 60_000
    assert len(text) - len(get_plotlyjs()) < 100_000 * 60


def test_a_twin_shares_its_nodes_lane_and_the_page_says_so(tmp_path: Path) -> None:
    directory = write_folder(tmp_path / "twins")
    data = json.loads((directory / "result.json").read_text())
    data["run"]["twins"] = [{"member": "n1-twin", "node": "n1", "sees": ["n3"]}]
    (directory / "result.json").write_text(json.dumps(data))
    text = page.build(ReportFolder.load(directory))
    charts = figures(text)
    assert charts["spacetime"]["layout"]["yaxis"]["categoryarray"] == ["n1", "n2", "n3"]
    assert "n1-twin" in charts["timeline"]["layout"]["yaxis"]["categoryarray"]
    assert "n1&#39;s lane also holds what its twin n1-twin sent and received" in text
