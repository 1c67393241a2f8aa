"""The conformance kit (pytest_dchaos.testing.conformance) on real node processes: every
reference node conforms, a plain Maelstrom node conforms with the extension checks not
applicable, and each broken node is caught by the check about its bug, with what was sent,
what came back and where to read."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from pytest_dchaos.cluster.extensions import EXTENSIONS
from pytest_dchaos.errors import DchaosError
from pytest_dchaos.families.conformance import FAIL, NOT_APPLICABLE, PASS
from pytest_dchaos.testing import ConformanceReport, assert_conforms, check_conformance

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "tests" / "broken_nodes"
NAIVE = ROOT / "tests" / "nodes" / "naive_broadcast.py"
SERVICE_NODE = ROOT / "tests" / "nodes" / "service_node.py"
#: What each reference node lists in init_ok: what it answers.
REFERENCE_EXTENSIONS = {
    "gossip": {"members", "dchaos_state"},
    "pbft": {"dchaos_state", "dchaos_byzantine"},
    "vector_clock": {"dchaos_state"},
    "txn": {"dchaos_state"},
    # Maelstrom's small workloads: plain Maelstrom nodes.
    "echo": set(),
    "unique-ids": set(),
    "g-counter": set(),
    "pn-counter": set(),
}


def broken(name: str, *args: str) -> list[str]:
    path = BROKEN / f"{name}.py"
    assert path.read_text().startswith("#!/usr/bin/env python3\n")
    return [sys.executable, str(path), *args]


def anchors(doc: Path) -> set[str]:
    """The GitHub anchors of a markdown file's headings."""
    headings = re.findall(r"^#+ (.+)$", doc.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def assert_docs_exist(report: ConformanceReport) -> None:
    for finding in report.findings:
        path, _, anchor = finding.doc.partition("#")
        assert (ROOT / path).is_file(), finding
        assert anchor in anchors(ROOT / path), f"{finding.doc}: no such section"


def statuses(report: ConformanceReport) -> dict[str, str]:
    return {f.check: f.status for f in report.findings}


@pytest.mark.parametrize("protocol", sorted(REFERENCE_EXTENSIONS))
def test_every_reference_node_conforms(protocol: str, tmp_path: Path, no_leaks: None) -> None:
    report = assert_conforms(protocol, log_dir=tmp_path)
    claimed = REFERENCE_EXTENSIONS[protocol]
    assert all(name in report.finding("extensions").detail for name in claimed)
    sent = {kind for kinds in report.sent.values() for kind in kinds}
    assert sent & set(EXTENSIONS) == claimed  # what a node lists, and nothing else
    for name in EXTENSIONS:
        assert statuses(report)[name] == (PASS if name in claimed else NOT_APPLICABLE), name
    assert statuses(report)["unknown type"] == PASS
    assert set(statuses(report).values()) <= {PASS, NOT_APPLICABLE}
    assert_docs_exist(report)
    assert report.log_dir.parent == tmp_path
    assert (report.log_dir / "n1" / "stderr.log").exists()


def test_a_plain_maelstrom_node_conforms_and_is_sent_no_extension(
        tmp_path: Path, no_leaks: None) -> None:
    report = assert_conforms("gossip", [sys.executable, str(NAIVE)], log_dir=tmp_path)
    assert "a plain Maelstrom node" in report.finding("extensions").detail
    for name in EXTENSIONS:
        finding = report.finding(name)
        assert finding.status == NOT_APPLICABLE and "none was sent it" in finding.detail
    sent = {kind for kinds in report.sent.values() for kind in kinds}
    assert sent == {"init", "topology", "broadcast", "read", "dchaos_conform_unknown"}


def test_a_node_built_on_maelstroms_services_conforms(tmp_path: Path, no_leaks: None) -> None:
    """Its requests to lin-kv are answered by the router and are no replies to a client."""
    report = assert_conforms("gossip", [sys.executable, str(SERVICE_NODE), "broadcast"],
                             log_dir=tmp_path)
    assert report.finding("broadcast").status == PASS
    assert "replies name a request" in report.finding("in_reply_to").detail


def test_a_node_of_another_family_fails_that_familys_checks(
        tmp_path: Path, no_leaks: None) -> None:
    report = check_conformance("txn", [sys.executable, str(NAIVE)], timeout=2,
                               log_dir=tmp_path)
    txn = report.finding("txn")
    assert txn.status == FAIL and "answered txn with error 10" in txn.detail
    assert txn.sent is not None and txn.sent["type"] == "txn"
    assert txn.got is not None and txn.got["code"] == 10
    assert statuses(report)["unknown type"] == PASS
    with pytest.raises(AssertionError, match=r"FAIL  txn .*expected txn_ok or error 14"):
        assert_conforms("txn", [sys.executable, str(NAIVE)], timeout=2, log_dir=tmp_path)


@pytest.mark.parametrize(("protocol", "node", "check", "message"), [
    ("echo", "echo_whole_body", "echo", "in 'echo', not the text sent"),
    ("unique-ids", "unique_ids_counter", "generate", "handed out id 1, as n1 had"),
    ("pn-counter", "pncounter_max_merge", None, None),
])
def test_maelstroms_small_workloads_broken_nodes(protocol: str, node: str, check: str | None,
                                                 message: str | None, tmp_path: Path,
                                                 no_leaks: None) -> None:
    """An echo or an id that is wrong shows at once; a pn-counter that loses decrements
    only under concurrent adds, which one conformance add and read never make: conformance
    is the contract, the scenario is the bug hunt."""
    report = check_conformance(protocol, broken(node), timeout=2, log_dir=tmp_path)
    if check is None:
        assert report.conforms, report.text()
        return
    finding = report.finding(check)
    assert finding.status == FAIL and message in finding.detail, finding.detail


@pytest.mark.slow
def test_a_reply_naming_the_wrong_request(tmp_path: Path, no_leaks: None) -> None:
    report = check_conformance("gossip", broken("conform_wrong_reply_id"), timeout=1,
                               log_dir=tmp_path)
    finding = report.finding("in_reply_to")
    assert finding.status == FAIL
    assert re.search(r"n1 sent read_ok to c1 with in_reply_to (\d+), which names a request "
                     r"sent to it only later", finding.detail), finding.detail
    assert finding.got["body"]["type"] == "read_ok"
    assert finding.doc == "docs/node-contract.md#messages"
    # The reads it never answered rightly fail too; what else it does is right.
    assert statuses(report)["read"] == FAIL
    assert statuses(report)["members"] == PASS and statuses(report)["topology"] == PASS
    assert_docs_exist(report)


def test_a_crash_on_an_unknown_type(tmp_path: Path, no_leaks: None) -> None:
    report = check_conformance("gossip", broken("conform_unknown_type"), timeout=1,
                               log_dir=tmp_path)
    finding = report.finding("unknown type")
    assert finding.status == FAIL
    assert "exited (status 1) on a message of a type it does not know" in finding.detail
    assert finding.sent is not None and finding.sent["type"] == "dchaos_conform_unknown"
    assert any("KeyError: 'dchaos_conform_unknown'" in line for line in finding.evidence)
    assert "FAIL  unknown type" in report.text() and "KeyError" in report.text()
    assert statuses(report)["running"] == FAIL
    assert statuses(report)["broadcast"] == PASS  # the rest of it works


def test_non_json_on_an_unknown_type(tmp_path: Path, no_leaks: None) -> None:
    report = check_conformance("gossip", broken("conform_unknown_type", "print"), timeout=1,
                               log_dir=tmp_path)
    finding = report.finding("unknown type")
    assert finding.status == FAIL and "no JSON message" in finding.detail
    assert finding.got == "no handler for dchaos_conform_unknown"
    assert statuses(report)["stdout"] == FAIL
    assert statuses(report)["running"] == PASS


def test_an_error_code_that_is_not_maelstroms(tmp_path: Path, no_leaks: None) -> None:
    report = check_conformance("gossip", broken("conform_unknown_type", "word"), timeout=1,
                               log_dir=tmp_path)
    assert "with error 'not_supported'" in report.finding("unknown type").detail
    errors = report.finding("errors")
    assert errors.status == FAIL and "has code 'not_supported'" in errors.detail


def test_an_extension_listed_but_answered_in_the_wrong_shape(
        tmp_path: Path, no_leaks: None) -> None:
    report = check_conformance("gossip", broken("conform_bad_members"), timeout=2,
                               log_dir=tmp_path)
    finding = report.finding("members")
    assert finding.status == FAIL
    assert "'members' must be an object of node id → alive | suspect | dead" in finding.detail
    assert "no field 'incarnation'" in finding.detail and "lists members" in finding.detail
    assert finding.sent is not None and finding.sent["type"] == "members"
    assert isinstance(finding.got["members"], list)
    assert finding.doc.startswith("docs/node-contract.md#gossip")
    assert [f.check for f in report.failures] == ["members"]
    with pytest.raises(AssertionError, match="FAIL  members"):
        assert_conforms("gossip", broken("conform_bad_members"), timeout=2, log_dir=tmp_path)


def test_a_node_that_never_answers_init(tmp_path: Path, no_leaks: None) -> None:
    report = check_conformance("gossip", broken("conform_silent_init"), init_timeout=1,
                               log_dir=tmp_path)
    init = report.finding("init")
    assert init.status == FAIL
    assert init.detail == "n1 did not answer init within 1.0s; it wrote nothing to stdout"
    assert init.sent is not None and init.sent["type"] == "init" and init.got is None
    for name in ("topology", "broadcast", "read", *EXTENSIONS, "unknown type"):
        assert report.finding(name).detail == "not run: init failed"
    assert statuses(report)["running"] == PASS
    assert not report.conforms


def test_a_node_that_dies_at_start(tmp_path: Path, no_leaks: None) -> None:
    crash = tmp_path / "crash.py"
    crash.write_text("import sys\nprint('boom: no config', file=sys.stderr)\nsys.exit(3)\n")
    report = check_conformance("vector_clock", [sys.executable, str(crash)],
                               log_dir=tmp_path)
    init = report.finding("init")
    assert init.status == FAIL and "exited (status 3) and never answered init" in init.detail
    assert any("boom: no config" in line for line in init.evidence)


@pytest.mark.parametrize(("protocol", "command", "message"), [
    ("gosip", None,
     "unknown protocol 'gosip' (did you mean 'gossip'?); installed: echo, g-counter, gossip"),
    ("gossip", "./no-such-node", "does not exist (relative paths are from the current folder)"),
    ("gossip", str(NAIVE.parent), "is not executable"),
    ("gossip", "no-such-program-anywhere", "is not on PATH"),
    ("gossip", "python3 'unclosed", "cannot split the node command"),
])
def test_a_check_that_cannot_run_is_a_dchaos_error(
        protocol: str, command: str | None, message: str, tmp_path: Path) -> None:
    with pytest.raises(DchaosError, match=re.escape(message)):
        check_conformance(protocol, command, log_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_bad_numbers_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DchaosError, match="at least one node"):
        check_conformance("gossip", nodes=0, log_dir=tmp_path)
    with pytest.raises(DchaosError, match="timeouts must be positive"):
        check_conformance("gossip", timeout=0, log_dir=tmp_path)


def test_a_command_that_cannot_start(tmp_path: Path) -> None:
    script = tmp_path / "node"
    script.write_text("not a program\n")
    script.chmod(0o755)
    with pytest.raises(DchaosError, match=r"cannot start the node command .*Exec format error"):
        check_conformance("gossip", str(script), log_dir=tmp_path / "logs")
