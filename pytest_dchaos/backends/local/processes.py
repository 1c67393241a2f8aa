"""Child processes the harness owns: start them so they cannot outlive it, stop them surely.

Every helper process (agents, the embedded Toxiproxy server) is started in its own session,
so a Ctrl-C in the terminal reaches only the harness, which then stops everything in order;
and with a pipe on its stdin, so that if the harness dies without cleaning up (``kill -9``)
the child sees end of file and exits on its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from pytest_dchaos.errors import HarnessError


class ChildProcess:
    """A helper process with a ``{"event": "ready", ...}`` line on stdout when it is up."""

    def __init__(self, name: str, argv: Sequence[str], *, log_path: Path,
                 env: Mapping[str, str] | None = None, cwd: Path | None = None) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log: IO[bytes] = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        try:
            self.proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._log,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        except OSError as exc:
            self._log.close()
            raise HarnessError(f"cannot start {name} ({self.argv[0]}): {exc}") from None
        self._buffer = b""

    def wait_ready(self, timeout: float) -> dict[str, Any]:
        """Read the ready line; a child that dies or stays silent is an error with its log."""
        ready = self.read_event(timeout)
        if ready.get("event") != "ready":
            raise HarnessError(f"{self.name} printed {ready!r} instead of its ready line")
        return ready

    def read_event(self, timeout: float) -> dict[str, Any]:
        """The next JSON object the child prints on a line of its own; a child that dies or
        stays silent is an error with its log."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise HarnessError(f"{self.name} did not start within {timeout:g}s"
                                   f"{self._log_tail()}")
            readable, _, _ = select.select([fd], [], [], left)
            if readable:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait(timeout=5)
                    raise HarnessError(f"{self.name} exited with code {self.proc.returncode} "
                                       f"at start{self._log_tail()}")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            event = json.loads(line)
        except ValueError:
            event = None
        if not isinstance(event, dict):
            raise HarnessError(f"{self.name} printed {line[:200]!r} instead of its ready line")
        return event

    def read_output(self) -> bytes:
        """What the child printed after its ready line: call it when its stdout is readable
        (``select``); ``b""`` once the child closed its stdout."""
        if self._buffer:
            data, self._buffer = self._buffer, b""
            return data
        assert self.proc.stdout is not None
        return os.read(self.proc.stdout.fileno(), 65536)

    def _log_tail(self) -> str:
        self._log.flush()
        return log_tail(self.log_path)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, grace: float = 5.0) -> None:
        """Close stdin (the child's cue to exit), wait, then kill its whole process group."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            kill_group(self.proc.pid)
            self.proc.wait(timeout=5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


class ForkedProcess:
    """A process that a :class:`ChildProcess` forked (one agent of several, see
    ``pytest_dchaos.agent.hatch``): its parent reaps it, so it is known by its pid alone,
    stopped by signals and waited for by looking."""

    def __init__(self, name: str, pid: int) -> None:
        self.name = name
        self.pid = pid

    @property
    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:  # a zombie is gone, only not yet reaped
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except OSError:
            return True
        return stat.rpartition(")")[2].split()[:1] != ["Z"]

    def stop(self, grace: float = 5.0) -> None:
        """SIGINT (what end of file on stdin is to a lone agent), wait, then kill its group
        (it leads its own session)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(self.pid, signal.SIGINT)
        if not self._gone_within(grace):
            kill_group(self.pid)
            self._gone_within(5.0)

    def _gone_within(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while self.alive:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True


def log_tail(path: Path, lines: int = 10) -> str:
    """The end of a log, to follow an error message: ``; last lines of PATH:`` and them."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    if not text:
        return f" (its log {path} is empty)"
    tail = "\n".join(f"    {line}" for line in text[-lines:])
    return f"; last lines of {path}:\n{tail}"


def kill_group(pid: int | None) -> None:
    """SIGKILL a process group, if it still exists."""
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)
