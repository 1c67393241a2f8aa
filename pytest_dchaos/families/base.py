"""The protocol-family contract: everything protocol-specific about a run, in one place.

Every family has the same shape (as Maelstrom's workloads do): client operations and their
generator (:class:`Workload`), per-node setup after ``init``, a final phase after the
faults are healed (e.g. reads until every node has converged), monitors that sample the
cluster during the run, and the checkers that judge it. The runner composes these; it
knows nothing of any family.
"""

from __future__ import annotations

import random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pytest_dchaos.record.history import FAIL, INFO, Outcome
from pytest_dchaos.scenario import schema as s

if TYPE_CHECKING:
    from pytest_dchaos.cluster.running import Cluster
    from pytest_dchaos.families.conformance import Conformance
    from pytest_dchaos.record.folder import ReportFolder
    from pytest_dchaos.record.history import History
    from pytest_dchaos.record.lanes import Lane
    from pytest_dchaos.record.result import RunRecord
    from pytest_dchaos.scenario.model import Scenario

#: How often a final phase asks the nodes whether they have settled.
POLL_INTERVAL = 0.25

#: Maelstrom's definite error codes: the operation certainly did not happen.
DEFINITE_ERRORS = frozenset({1, 10, 11, 12, 14, 20, 21, 22, 30})


class Pending(Protocol):
    """An operation on its way (a :class:`~pytest_dchaos.cluster.running.Request`, or a family's
    own, such as PBFT's quorum of replies)."""

    def result(self, timeout: float | None = None) -> dict[str, Any]: ...

    def add_done_callback(self, fn: Callable[[Any], None]) -> None:
        """Call ``fn(self)`` once the result is in (at once, if it is already)."""

    def abandon(self, cluster: Cluster) -> None: ...


class Workload(ABC):
    """The client side of a family: what clients ask and how answers are read."""

    #: True when every operation goes to every node (PBFT's clients): no node is drawn,
    #: and :meth:`submit` decides when the operation is done.
    to_every_node: ClassVar[bool] = False

    @abstractmethod
    def next_op(self, rng: random.Random) -> tuple[str, Any]:
        """The next operation as ``(f, value)``, e.g. ``("broadcast", 17)``."""

    def bind(self, node: str, f: str, value: Any, nodes: tuple[str, ...], client: str) -> Any:
        """The operation's value once its target ``node`` and its ``client`` are known
        (e.g. a transfer to some other node, a per-client timestamp). By default the value
        as drawn."""
        return value

    def submit(self, cluster: Cluster, client: str, node: str, f: str,
               value: Any) -> Pending:
        """Send the operation; the future's result is the reply body that settles it, and
        it has ``abandon(cluster)`` to stop waiting. By default one request to ``node``."""
        return cluster.submit(node, self.request(f, value), client=client)

    @abstractmethod
    def request(self, f: str, value: Any) -> dict[str, Any]:
        """The message body that asks for operation ``f`` with ``value``."""

    @abstractmethod
    def completion(self, f: str, value: Any, reply: Mapping[str, Any]
                   ) -> tuple[Outcome, Any]:
        """``(outcome, value)`` for a non-error reply: ok with what it returned, or fail /
        info if the reply is not what the contract promises."""

    def error_outcome(self, f: str, code: int | None) -> Outcome:
        """Maelstrom's rule: a definite error, or any error on a read, is a fail."""
        if code in DEFINITE_ERRORS or f == "read":
            return FAIL
        return INFO

    def timeout_outcome(self, f: str) -> Outcome:
        """A read that timed out changed nothing: fail. Anything else: unknown."""
        return FAIL if f == "read" else INFO


@dataclass
class Monitor:
    """A periodic probe during the run; its samples land in ``observations[name]``."""

    name: str
    interval: float
    sample: Callable[[Cluster, float], Any]


@dataclass(frozen=True)
class LiveRun:
    """What a family may look at while the workload runs (see
    :meth:`ProtocolFamily.leader`): the live cluster, the history so far, and the run's
    workload (the family's own type, with whatever it keeps of the run)."""

    cluster: Cluster
    scenario: Scenario
    history: History
    workload: Workload


@dataclass
class RunContext:
    """What a family's final phase gets: the live cluster and the run so far."""

    cluster: Cluster
    scenario: Scenario
    history: History
    clock: Callable[[], float]
    observations: dict[str, Any]
    seed: int = 0
    #: The run's fault schedule (:class:`~pytest_dchaos.run.nemesis.Firing`), random choices drawn.
    firings: list[Any] = field(default_factory=list)
    #: The workload the run's clients used (the family's own type): what it kept of the
    #: run, e.g. every reply its requests received, is the family's to read.
    workload: Workload | None = None
    #: What fired (:class:`~pytest_dchaos.record.result.FaultEvent`): unlike ``firings``,
    #: it names the node a fault aimed at ``leader`` hit.
    faults: list[Any] = field(default_factory=list)
    #: When the final phase began (the run's clock): the faults are healed.
    healed_at: float = field(init=False)

    def __post_init__(self) -> None:
        self.healed_at = self.clock()

    @property
    def deadline(self) -> float:
        """When recovery time is up: the final phase ends by then, settled or not."""
        return self.healed_at + self.scenario.workload.recovery

    def poll(self, settled: Callable[[], bool], *, until: float | None = None,
             interval: float = POLL_INTERVAL) -> float | None:
        """Ask ``settled()`` until it says yes, every ``interval`` seconds, and return the
        run's time when it did; None once ``until`` (by default :attr:`deadline`) passed
        without it. It is asked at least once, even past the deadline."""
        until = self.deadline if until is None else until
        while True:
            if settled():
                return self.clock()
            if self.clock() >= until:
                return None
            time.sleep(interval)


class ProtocolFamily(ABC):
    name: ClassVar[str]
    doc: ClassVar[str]
    #: Other names ``protocol:`` may give this family: Maelstrom's workload names
    #: (``broadcast`` for gossip), so a Maelstrom user finds the workload they know. A
    #: scenario that uses one runs as :attr:`name`, and its report says :attr:`name`.
    aliases: ClassVar[tuple[str, ...]] = ()
    #: Values allowed for ``cluster.topology``.
    topologies: ClassVar[tuple[str, ...]] = ()
    #: Checks run when a scenario lists none.
    default_checks: ClassVar[tuple[str, ...]] = ()
    #: Whether ``cluster.twins`` makes sense for it (Byzantine-fault-tolerant families).
    twins: ClassVar[bool] = False
    #: Extra keys the family accepts in ``workload:``.
    workload_options: ClassVar[tuple[s.Field, ...]] = ()
    #: What ``leader`` names in a fault (``kill: leader``, ``partition: {isolate:
    #: leader}``), in a few words ("the primary of the current view"). Empty: the family
    #: has no leading role, and a scenario that names ``leader`` is refused on load. A
    #: family that sets it implements :meth:`leader`.
    leader_role: ClassVar[str] = ""
    #: The faults ``dchaos explore`` draws for it unless ``--faults`` names others (fault
    #: kinds and shapes, as ``--faults`` takes them): the fault model the protocol is
    #: written for. Empty: every fault the cluster can have.
    explore_faults: ClassVar[tuple[str, ...]] = ()
    #: Why :attr:`explore_faults`, in a few words, for the exploration's first line.
    explore_faults_why: ClassVar[str] = ""

    @abstractmethod
    def reference_command(self) -> tuple[str, ...]:
        """The command line of this family's reference node, as ``python3 -m ...``: each
        backend runs it with a Python that can import ``reference_nodes``."""

    def init_extra(self, scenario: Scenario, node: str, seed: int) -> dict[str, Any]:
        """The ``dchaos`` object of ``init`` for ``node`` (protocol parameters, keys)."""
        return {"params": dict(scenario.cluster.params)} if scenario.cluster.params else {}

    def setup(self, cluster: Cluster, scenario: Scenario) -> None:
        """Prepare a provisioned cluster before its nodes start, e.g. by adding to
        ``cluster.on_node_started`` the messages each node needs after ``init``."""

    @abstractmethod
    def workload(self, scenario: Scenario, seed: int) -> Workload:
        """The client workload for ``scenario`` in a run with ``seed``."""

    def monitors(self, scenario: Scenario, needs: frozenset[str]) -> list[Monitor]:
        """Periodic probes that produce the observations in ``needs``."""
        return []

    def final(self, ctx: RunContext) -> None:
        """After the final heal: wait for recovery and read the final state into
        ``ctx.observations``. Bounded by ``scenario.workload.recovery``."""

    def leader(self, run: LiveRun) -> str | None:
        """The node in the leading role (:attr:`leader_role`) now, or None if none leads
        now. Called on the nemesis thread at the moment a fault aimed at ``leader`` fires,
        while the workload runs, so it must be quick and must not block on the nodes.

        Judge from what the harness saw (the requests its clients sent, the replies they
        got), not from what nodes say of themselves: a fault aimed at the leader must hit
        the node that leads, not the one a lying node names."""
        return None

    def first_leader(self, scenario: Scenario) -> str | None:
        """The node in the leading role when a run of ``scenario`` starts, where the
        protocol fixes it (PBFT: the primary of view 0), else None. ``dchaos explore``
        gives this node a twin in some schedules: a twin of the leader tells two stories."""
        return None

    def notes(self, scenario: Scenario, firings: list[Any]) -> list[str]:
        """Plain warnings about the experiment itself, printed at the start of the run and
        kept in the report (e.g. more Byzantine replicas than the protocol tolerates)."""
        return []

    def stats(self, record: RunRecord) -> dict[str, Any]:
        """Family-specific figures for ``result.json``'s stats (e.g. stable latency)."""
        return {}

    def artifacts(self, record: RunRecord, directory: Path) -> list[str]:
        """Write family-specific files into the report folder (after the checks); returns
        their names with a few words each, for the summary."""
        return []

    def report_lanes(self, run: ReportFolder) -> list[Lane]:
        """The family's own lanes on the report page's timeline (``report.html``), below
        the generic ones (each node up, down, paused, Byzantine, twinned; each fault):
        e.g. membership views, the view and primary, blocked transactions.

        Read them from the report folder (``run.observations``, ``run.states``,
        ``run.history``, ``run.trace()``, all as written), never from the live run: the
        page is made again from a copied folder by ``dchaos report``. Say in each lane's
        ``source`` whether it is observed or reported. A folder may come from an older run
        or a node that reports nothing: return what can be drawn, never raise for what is
        missing."""
        return []

    def conformance(self) -> Conformance | None:
        """A fresh :class:`~pytest_dchaos.families.conformance.Conformance`: the family's
        client messages and extension replies, as ``dchaos conform`` checks a node of the
        family. None: the family offers no conformance checks."""
        return None
