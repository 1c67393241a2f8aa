"""The termination check shares the in-doubt cross-checks with blocking: here, a client
read of a write its participant says it had not yet decided."""

from __future__ import annotations

from pathlib import Path

from pytest_dchaos.families.txn.checks.common import InDoubtOptions
from pytest_dchaos.families.txn.checks.termination import Termination
from tests.builders import txn
from tests.families.txn.test_blocking import DOWN, committing, tied_run

OPTIONS = InDoubtOptions(within=5.0, require=True, cases=())


def test_a_write_read_while_its_participant_says_it_was_undecided_fails(
        tmp_path: Path) -> None:
    rec = tied_run(tmp_path, committing(None), txn("c2", [["r", 1, 1]], DOWN + 0.5, DOWN + 0.6,
                                                     node="n3"))
    assert Termination().check(OPTIONS, rec).detail.startswith(
        "n2 reports n1.1.313 (started by txn 1 (c1's request msg_id 1 to n1 at 3.10s)) "
        "undecided from 3.45s to 5.50s, but txn 2 (c2's request msg_id 1 to n3 at 3.90s) "
        "read its write key 1 = 1")
    del rec.node_states["n1"]["txns"]
    rec.derived.clear()
    verdict = Termination().check(OPTIONS, rec)
    assert verdict.passed, verdict.detail  # without the tie, as before
