"""One exception root for everything the harness reports to a user.

Every error a user can meet says what was expected, what came instead and what to do. The
CLI prints ``str(error)`` and exits with ``error.exit_code``; the pytest plugin turns it into a
failed item without a traceback. Anything that is not a :class:`DchaosError` is a bug in the
harness and is reported as one.
"""

from __future__ import annotations

from collections.abc import Sequence


class HarnessWarning(UserWarning):
    """The harness failed the nodes in a run that went on (its transport lost messages no
    fault explains): verdicts may be about the harness, not the node. The pytest plugin
    warns with it; it is a bug in dchaos."""


class DchaosError(Exception):
    """Root of every error the harness reports to a user (exit code 2: could not run)."""

    exit_code = 2


class ScenarioError(DchaosError):
    """A scenario file is invalid: names the file, the line, the field and the fix."""

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.field = field
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = self.path or "<scenario>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        text = f"{where}: "
        if self.field:
            text += f"{self.field}: "
        text += self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class HarnessError(DchaosError):
    """The harness could not run a valid scenario (a port in use, a missing binary, ...)."""


class FaultRefused(HarnessError):
    """A node said it cannot play a fault the scenario asks of it: a Byzantine behaviour it
    does not implement, or none at all. The scenario is fine and so may be the node; an
    exploration drops that kind of fault and goes on (:mod:`pytest_dchaos.explore`)."""


class NodeError(HarnessError):
    """A node broke the node contract in a way that stops the run (e.g. crashed at start).

    Carries the node's last output lines and the path of its full log, because the person
    who reads this is usually the node's author.
    """

    def __init__(
        self,
        node: str,
        message: str,
        *,
        last_lines: Sequence[str] = (),
        log_path: str | None = None,
    ) -> None:
        self.node = node
        self.message = message
        self.last_lines = tuple(last_lines)
        self.log_path = log_path
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"node {self.node}: {self.message}"
        if self.last_lines:
            tail = "\n".join(f"    {line}" for line in self.last_lines)
            text += f"\n  last lines of its stderr:\n{tail}"
        if self.log_path:
            text += f"\n  full log: {self.log_path}"
        return text


class RpcTimeout(HarnessError):
    """A request to a node got no reply in time (the outcome is unknown).

    ``by_harness``: the node went down before answering because the harness took it down.
    """

    def __init__(self, message: str, *, by_harness: bool = False) -> None:
        super().__init__(message)
        self.by_harness = by_harness


class NodeDown(HarnessError):
    """A request could not be delivered because the node's process is not running.

    ``by_harness``: the harness had taken the node down (a kill, stop or restart of a fault)
    or was starting it again, as opposed to a node that exited on its own or an agent lost.
    """

    def __init__(self, message: str, *, by_harness: bool = False) -> None:
        super().__init__(message)
        self.by_harness = by_harness
