"""The space-time diagram: one mark per message outcome, faults as bands, valid SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from itertools import pairwise
from typing import Any

import pytest

from pytest_dchaos.families.vector_clock.spacetime import render_svg
from pytest_dchaos.record.result import FaultEvent

NS = "{http://www.w3.org/2000/svg}"
T0 = 1_700_000_000.0
NODES = ("n1", "n2", "n3")


def event(ev: str, t: float, mid: str, src: str, dest: str, msg_type: str = "cbcast",
          **extra: Any) -> dict[str, Any]:
    """A trace line as an agent writes it, ``t`` seconds after ``T0``."""
    return {"t": T0 + t, "ev": ev, "id": mid, "src": src, "dest": dest, "type": msg_type,
            "size": 40, **extra}


def delivered(mid: str, src: str, dest: str, sent: float, received: float,
              msg_type: str = "cbcast") -> list[dict[str, Any]]:
    return [event("send", sent, mid, src, dest, msg_type),
            event("recv", received, mid, src, dest, msg_type)]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def marks(root: ET.Element, cls: str) -> list[ET.Element]:
    """Groups whose class attribute is exactly ``cls``."""
    return [g for g in root.iter(f"{NS}g") if g.get("class") == cls]


def tip(element: ET.Element) -> str:
    title = element.find(f"{NS}title")
    assert title is not None and title.text is not None
    return title.text


def line(element: ET.Element) -> tuple[float, float, float, float]:
    found = element.find(f"{NS}line")
    assert found is not None
    return tuple(float(found.get(a, "nan")) for a in ("x1", "y1", "x2", "y2"))  # type: ignore[return-value]


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{NS}text")]


def test_a_delivered_message_is_one_arrow_from_send_to_receive() -> None:
    events = [
        {"t": T0 + 0.5, "ev": "send", "id": "n1:1.1", "src": "n1", "dest": "n3",
         "type": "cbcast", "size": 40},
        {"t": T0 + 0.525, "ev": "recv", "id": "n1:1.1", "src": "n1", "dest": "n3",
         "type": "cbcast", "size": 40},
    ]
    root = parse(render_svg(events, NODES, T0))
    (arrow,) = marks(root, "msg")
    x1, y1, x2, y2 = line(arrow)
    assert x2 > x1
    assert y2 > y1  # n3's lane is below n1's
    assert tip(arrow) == "cbcast n1→n3 sent 0.500s, received 0.525s (25.0 ms)"
    assert arrow.get("data-id") == "n1:1.1"
    assert [lane.get("data-node") for lane in marks(root, "lane")] == list(NODES)


def test_each_delivered_message_gets_exactly_one_arrow_and_lanes_match_nodes() -> None:
    events = [*delivered("n1:1.1", "n1", "n2", 0.1, 0.2),
              *delivered("n2:1.1", "n2", "n1", 0.3, 0.35),
              *delivered("n3:1.1", "n3", "n2", 0.4, 0.6),
              event("client_in", 0.05, "", "c1", "n1"), event("client_out", 0.7, "", "n1", "c1")]
    root = parse(render_svg(events, NODES, T0))
    arrows = marks(root, "msg")
    assert [a.get("data-id") for a in arrows] == ["n1:1.1", "n2:1.1", "n3:1.1"]
    lane_y = {lane.get("data-node"): line(lane)[1] for lane in marks(root, "lane")}
    for arrow, (src, dest) in zip(arrows, [("n1", "n2"), ("n2", "n1"), ("n3", "n2")],
                                  strict=True):
        x1, y1, x2, y2 = line(arrow)
        assert (y1, y2) == (lane_y[src], lane_y[dest])
        assert x2 > x1
    assert "3 messages: 3 delivered, 0 dropped, 0 in flight/unknown" in texts(root)


def test_a_dropped_message_is_drawn_dashed_with_a_cross_not_as_an_arrow() -> None:
    events = [*delivered("n1:1.1", "n1", "n2", 0.1, 0.2),
              event("send", 0.3, "n1:1.2", "n1", "n3"),
              event("drop", 0.31, "n1:1.2", "n1", "n3", why="link down")]
    root = parse(render_svg(events, NODES, T0))
    assert [m.get("data-id") for m in marks(root, "msg")] == ["n1:1.1"]
    (dropped,) = marks(root, "msg dropped")
    assert dropped.get("data-id") == "n1:1.2"
    assert tip(dropped) == "cbcast n1→n3 sent 0.300s, dropped 0.310s (link down)"
    drawn = dropped.find(f"{NS}line")
    assert drawn is not None and drawn.get("stroke-dasharray")
    assert drawn.get("marker-end") is None
    assert dropped.find(f"{NS}path") is not None  # the X


def test_a_send_with_no_outcome_is_a_stub_marked_in_flight() -> None:
    root = parse(render_svg([event("send", 0.2, "n2:1.1", "n2", "n3")], NODES, T0))
    (stub,) = marks(root, "msg unknown")
    assert "in flight/unknown" in tip(stub)
    assert not marks(root, "msg")


def test_a_duplicate_copy_received_twice_gets_a_second_distinct_arrow() -> None:
    events = [*delivered("n1:1.1", "n1", "n2", 0.1, 0.2),
              event("dup", 0.1, "n1:1.1", "n1", "n2"),
              event("recv", 0.25, "n1:1.1", "n1", "n2")]
    root = parse(render_svg(events, NODES, T0))
    assert len(marks(root, "msg")) == 1
    (copy,) = marks(root, "msg dup")
    assert "received 0.250s" in tip(copy) and "duplicate" in tip(copy)


def test_types_keeps_only_the_named_message_types() -> None:
    events = [*delivered("n1:1.1", "n1", "n2", 0.1, 0.2, "cbcast"),
              *delivered("n1:1.2", "n1", "n3", 0.2, 0.3, "heartbeat"),
              *delivered("n2:1.1", "n2", "n3", 0.3, 0.4, "ack")]
    root = parse(render_svg(events, NODES, T0, types={"cbcast", "ack"}))
    assert [m.get("data-id") for m in marks(root, "msg")] == ["n1:1.1", "n2:1.1"]
    legend = " ".join(texts(marks(root, "legend")[0]))
    assert "heartbeat" not in legend and "cbcast" in legend

    none_left = parse(render_svg(events, NODES, T0, types={"gossip"}))
    assert "no messages of type gossip" in texts(none_left)


def test_max_messages_keeps_the_earliest_sent_and_says_how_many_were_left_out() -> None:
    events = [e for i in reversed(range(10))
              for e in delivered(f"n1:1.{i}", "n1", "n2", 0.1 * i, 0.1 * i + 0.05)]
    root = parse(render_svg(events, NODES, T0, max_messages=3))
    assert [m.get("data-id") for m in marks(root, "msg")] == ["n1:1.0", "n1:1.1", "n1:1.2"]
    summary = root.find(f"{NS}text[@class='summary']")
    assert summary is not None and summary.text is not None
    assert summary.text.startswith("showing the first 3 of 10 messages (7 left out)")


def test_max_messages_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_messages must be at least 1, got 0"):
        render_svg([], NODES, T0, max_messages=0)


def test_faults_are_bands_over_the_affected_lanes_with_their_description() -> None:
    faults = [
        FaultEvent(0.2, "start", "p1", "partition", "isolate n3 from the rest", ("n3",), "cut"),
        FaultEvent(0.6, "end", "p1", "partition", "isolate n3 from the rest", ("n3",), "cut"),
        FaultEvent(0.4, "start", "s1", "latency", "everything slow", (), "slow"),
        FaultEvent(0.5, "start", "k1", "kill", "kill n2", ("n2",), "crash"),
    ]
    events = delivered("n1:1.1", "n1", "n2", 0.1, 0.9)
    root = parse(render_svg(events, NODES, T0, faults))
    cut, slow = marks(root, "fault")
    assert "isolate n3 from the rest" in tip(cut) and cut.get("data-effect") == "cut"
    (cut_band,) = cut.findall(f"{NS}rect")
    lane_y = {lane.get("data-node"): line(lane)[1] for lane in marks(root, "lane")}
    top, height = float(cut_band.get("y", "nan")), float(cut_band.get("height", "nan"))
    assert top < lane_y["n3"] < top + height
    assert not top < lane_y["n2"] < top + height
    # A fault that never ended runs to the right edge; one naming no node covers every lane.
    (slow_band,) = slow.findall(f"{NS}rect")
    assert "never ended" in tip(slow)
    right = line(marks(root, "lane")[0])[2]
    assert float(slow_band.get("x", "nan")) + float(slow_band.get("width", "nan")) == pytest.approx(
        right, abs=0.2)
    assert float(slow_band.get("y", "nan")) < lane_y["n1"]
    assert float(slow_band.get("y", "nan")) + float(slow_band.get("height", "nan")) > lane_y["n3"]
    (crash,) = marks(root, "fault marker")
    assert "kill n2" in tip(crash)


def test_hostile_text_is_escaped_and_the_svg_stays_well_formed() -> None:
    odd = 'a<b&"c"'
    events = [*delivered("n1:1.1", "n1", "n2", 0.1, 0.2, odd),
              *delivered("n1:1.2", "n1", "n2", 0.2, 0.3, "bad\x00\x1bchars")]
    faults = [FaultEvent(0.1, "start", 'k"1', "odd<kind>", "drop & <delay>", ("n1",), "other")]
    root = parse(render_svg(events, ["n1", "n2", "n<3>"], T0, faults, title="<run> & 'co'"))
    assert "<run> & 'co'" in texts(root)
    assert tip(marks(root, "msg")[0]).startswith(f"{odd} n1→n2")
    assert "drop & <delay>" in tip(marks(root, "fault")[0])
    assert "n<3>" in [lane.get("data-node") for lane in marks(root, "lane")]


def test_an_empty_trace_says_no_messages() -> None:
    root = parse(render_svg([], NODES, T0, title="nothing happened"))
    assert "no messages" in texts(root)
    assert not [g for g in root.iter(f"{NS}g") if (g.get("class") or "").startswith("msg")]
    assert len(marks(root, "lane")) == 3
    assert marks(root, "axis")


def test_the_same_trace_in_any_order_renders_the_same_svg() -> None:
    events = [*delivered("n1:1.1", "n1", "n2", 0.1, 0.2, "cbcast"),
              *delivered("n2:1.1", "n2", "n3", 0.15, 0.3, "ack"),
              event("send", 0.4, "n3:1.1", "n3", "n1", "ack"),
              event("drop", 0.41, "n3:1.1", "n3", "n1", "ack", why="rule")]
    first = render_svg(events, NODES, T0, title="t")
    assert render_svg(list(reversed(events)), NODES, T0, title="t") == first


def test_the_same_type_keeps_its_colour_and_different_types_differ() -> None:
    events = [*delivered("n1:1.1", "n1", "n2", 0.1, 0.2, "cbcast"),
              *delivered("n1:1.2", "n1", "n3", 0.2, 0.3, "cbcast"),
              *delivered("n2:1.1", "n2", "n3", 0.3, 0.4, "ack")]
    root = parse(render_svg(events, NODES, T0))
    colours = [m.find(f"{NS}line").get("stroke") for m in marks(root, "msg")]  # type: ignore[union-attr]
    assert colours[0] == colours[1] != colours[2]


@pytest.mark.parametrize(("span", "step"), [(0.3, 0.05), (1.0, 0.1), (4.0, 0.5), (12.0, 2.0),
                                            (40.0, 5.0)])
def test_axis_ticks_are_evenly_spaced_round_numbers(span: float, step: float) -> None:
    root = parse(render_svg(delivered("n1:1.1", "n1", "n2", 0.0, span), NODES, T0))
    labels = texts(marks(root, "axis")[0])[:-1]  # the last text is the axis caption
    values = [float(label.removesuffix(" s")) for label in labels]
    assert values[0] == 0.0 and values[-1] <= span
    assert all(b - a == pytest.approx(step) for a, b in pairwise(values))
    assert 4 <= len(values) <= 11
