"""How a test names its nodes and the command that runs them."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path

from pytest_dchaos.scenario.loader import resolve_command


def node_ids(nodes: int | Sequence[str]) -> list[str]:
    """``3`` → ``["n1", "n2", "n3"]``; a list of ids as it is."""
    return [f"n{i}" for i in range(1, nodes + 1)] if isinstance(nodes, int) else list(nodes)


def command_words(command: str | Sequence[str], folder: Path) -> tuple[str, ...]:
    """A node command as words (a string is split as a shell would), relative paths made
    absolute from ``folder``: each node runs in a folder of its own."""
    words = shlex.split(command) if isinstance(command, str) else list(command)
    return resolve_command(words, str(folder))
