"""Shared test set-up: pytester for the plugin tests, and a leak check after every test."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest

pytest_plugins = ["pytester"]


def harness_processes() -> set[int]:
    """Agents, nodes and embedded Toxiproxy servers of this test session still running."""
    out = subprocess.run(["pgrep", "-f", "pytest_dchaos/agent.py|reference_nodes|"
                          "pytest_dchaos.toxiproxy|tests/nodes/"],
                         capture_output=True, text=True, check=False).stdout
    return {int(pid) for pid in out.split()} - {os.getpid()}


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
