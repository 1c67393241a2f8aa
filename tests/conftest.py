"""Shared test set-up: pytester for the plugin tests, and a leak check after every test."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]


# Every process this test session starts inherits this marker (agents, nodes, Toxiproxy
# servers, dchaos commands), so a leak check finds ours even after they were orphaned,
# and never mistakes another session's for ours.
SESSION_MARK = f"DCHAOS_TEST_SESSION={uuid.uuid4().hex}"
os.environ["DCHAOS_TEST_SESSION"] = SESSION_MARK.split("=", 1)[1]


def harness_processes() -> set[int]:
    """Processes started by this test session that are still running."""
    found = set()
    mark = SESSION_MARK.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and mark in environ.split(b"\0"):
            found.add(int(entry.name))
    return found


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fail the test if it leaves a harness process behind."""
    before = harness_processes()
    yield
    deadline = time.monotonic() + 5
    while True:
        left = harness_processes() - before
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not left, f"processes left running: {sorted(left)}"
