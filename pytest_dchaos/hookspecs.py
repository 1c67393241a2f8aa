"""Every extension point of pytest-dchaos, as pluggy hooks. These docstrings are the reference.

A plugin is a module (or object) with functions marked ``@hookimpl`` and named after the
hooks below. Register it through the ``dchaos`` entry-point group of your package::

    [project.entry-points.dchaos]
    mykv = "mykv_dchaos.plugin"

The harness's own families register exactly this way (see ``pytest_dchaos.builtin`` and
``pytest_dchaos.families.gossip.family``), so anything they can do, a third party can do. From a
``conftest.py`` a plugin can also be registered for one test session with
``pytest_dchaos.registry.register(plugin)``.
"""

# Hook specifications have no body: pluggy calls the implementations, never these.
# mypy: disable-error-code="empty-body"
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    from pytest_dchaos.backends.base import Backend
    from pytest_dchaos.checkers.base import CheckerType
    from pytest_dchaos.families.base import ProtocolFamily
    from pytest_dchaos.faults.base import FaultType
    from pytest_dchaos.record.result import RunResult
    from pytest_dchaos.scenario.model import Scenario

PROJECT = "dchaos"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def dchaos_add_protocols() -> list[ProtocolFamily]:
    """Return the protocol families this plugin provides.

    A family (see :class:`pytest_dchaos.families.base.ProtocolFamily`) names the
    ``protocol:`` value of a scenario and brings the reference node command, the per-node
    setup after ``init``, the client workload, the final phase after healing and the
    observations its checkers need. Two plugins may not provide the same name.
    """


@hookspec
def dchaos_add_faults() -> list[FaultType[Any]]:
    """Return the fault types this plugin provides.

    A fault type (see :class:`pytest_dchaos.faults.base.FaultType`) names a key usable in a
    scenario's ``faults:`` entries, declares its options (validated by the loader with
    file/line errors), builds its typed options from them (``FaultType[MyOptions]``) and
    knows how to start and revert itself on a running cluster.
    """


@hookspec
def dchaos_add_checkers() -> list[CheckerType[Any]]:
    """Return the checkers this plugin provides.

    A checker (see :class:`pytest_dchaos.checkers.base.CheckerType`) names an entry of
    ``checks:``, declares its options and the frozen dataclass they are handed to it as
    (``CheckerType[MyOptions]`` with ``options_type = MyOptions``), the protocol families it
    applies to and the observations it needs, and judges a finished run into a verdict.
    Checkers see only the run's record (history, trace, fault timeline, observations, node
    states) — never the backend or the fault layer.
    """


@hookspec
def dchaos_add_backends() -> list[Backend]:
    """Return the backends this plugin provides (``--backend NAME``).

    A backend (see :class:`pytest_dchaos.backends.base.Backend`) provisions a cluster:
    agents, one fault-layer proxy per directed link, and their wiring.
    """


@hookspec
def dchaos_run_started(scenario: Scenario, run_id: str, report_dir: Path) -> None:
    """Called when a run begins, before any process starts. For observers (dashboards,
    log shippers); return nothing."""


@hookspec
def dchaos_run_finished(result: RunResult) -> None:
    """Called with the result of every run that got as far as judging, after the report was
    written. For observers; return nothing."""
