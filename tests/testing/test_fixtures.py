"""The testing kit from a user's own suite: the plugin registers ``dchaos_router`` with no
conftest, and ``assert_conforms`` fails a test with the findings."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

NODES = Path(__file__).resolve().parents[1] / "nodes"
BROKEN = Path(__file__).resolve().parents[1] / "broken_nodes"


@pytest.mark.slow
def test_a_users_suite(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_my_node=textwrap.dedent(f"""
        import sys

        from pytest_dchaos.testing import assert_conforms, eventually

        NODE = [sys.executable, {str(NODES / "naive_broadcast.py")!r}]
        BROKEN = [sys.executable, {str(BROKEN / "conform_bad_members.py")!r}]


        def test_conforms(tmp_path):
            report = assert_conforms("gossip", NODE, log_dir=tmp_path)
            assert report.finding("members").status == "N/A"


        def test_broken_does_not(tmp_path):
            assert_conforms("gossip", BROKEN, timeout=2, log_dir=tmp_path)


        def test_router(dchaos_router):
            router = dchaos_router(NODE, 3, topology={{"n1": ["n2"], "n2": ["n1", "n3"],
                                                       "n3": ["n2"]}})
            router.broadcast("n1", 7)

            def everywhere():
                assert all(7 in router.read(n) for n in router.node_ids)

            eventually(everywhere, timeout=5)
        """))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*AssertionError: dchaos conform: gossip, 3 node(s):*",
        "*FAIL  members           n1's members_ok is malformed*",
        "*DOES NOT CONFORM: 13 passed, 1 failed, 1 not applicable*",
    ])
