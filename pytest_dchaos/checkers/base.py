"""The checker contract: judge a finished run from its record alone.

A checker never touches a live cluster, a backend or the fault layer: it reads the
:class:`RunRecord` (history, fault timeline, message counts, family observations, node
states) and returns a :class:`Verdict` whose ``detail`` a person can act on and whose
``witness`` points at the operations, nodes and times involved.

Every check says what it rests on (``evidence``): what the harness *observed* (the client
history, the message trace, process and fault events), what the nodes *reported* about
themselves (``dchaos_state``, event logs, ``members``), or *both*, the reports
cross-checked against the observations. A check that judges from a report names the
extension messages it needs (``requires``); when no node of the run offers them (a node
lists what it answers in ``init_ok``), the runner makes the check *not applicable* without
calling it — neither pass nor fail — unless the scenario insists on it (``required: true``).
A check that cannot decide (a search over its budget) says *unknown*, which fails a run.

A checker's options arrive typed: ``options`` (the schema) says what a scenario may write,
``options_type`` (a frozen dataclass with one field per option, named alike) is what
:meth:`CheckerType.check` receives, so a check reads ``options.within``, never a dict.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pytest_dchaos.record.result import EvidenceKind, RunRecord, Verdict
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.yamlsource import YNode

#: A checker's typed options.
OptionsT = TypeVar("OptionsT")


@dataclass(frozen=True)
class NoOptions:
    """The options of a check that takes none."""


class CheckerType(ABC, Generic[OptionsT]):
    """Subclass as ``CheckerType[MyOptions]``: declare ``options`` (the schema) and
    ``options_type`` (``MyOptions``, a frozen dataclass whose fields are exactly the schema's
    names), and implement :meth:`check`. A check without options is a
    ``CheckerType[NoOptions]`` and declares neither."""

    name: ClassVar[str]
    doc: ClassVar[str]
    options: ClassVar[s.Struct] = s.Struct(())
    #: What :meth:`build` makes from the validated values (``options`` is taken: it is the
    #: schema). Not a ClassVar, which cannot hold the type variable: this way mypy checks a
    #: subclass's dataclass against its type parameter. The default fits only
    #: ``CheckerType[NoOptions]``, hence the ignore; every other check sets its own.
    options_type: type[OptionsT] = NoOptions  # type: ignore[assignment]
    #: Families this check applies to; None for all.
    protocols: ClassVar[tuple[str, ...] | None] = None
    #: Observations the family must collect during the run for this check.
    needs: ClassVar[frozenset[str]] = frozenset()
    #: What its verdicts rest on (see the module's docstring).
    evidence: ClassVar[EvidenceKind] = "observed"
    #: Extension messages (``members``, ``dchaos_state``, ``dchaos_byzantine``) the check
    #: cannot judge without: it is not applicable to a run where no node offers them.
    requires: ClassVar[frozenset[str]] = frozenset()
    #: What the check cannot see, in a sentence for the catalogue: the limits of its
    #: evidence a person should know before trusting a pass (empty: nothing worth saying).
    blind_to: ClassVar[str] = ""
    #: A bound on speed or cost (latency, messages per operation) that a run meets with the
    #: faults its scenario planned and that other faults may rightly break: ``dchaos
    #: explore`` leaves such checks out, since breaking them under its faults is no bug.
    performance: ClassVar[bool] = False
    #: Options of a correctness check that bound its speed (convergence's ``within``): met
    #: with the faults the scenario planned, rightly broken by slower repair under others.
    #: ``dchaos explore`` leaves them out, so the check judges with their defaults.
    performance_options: ClassVar[tuple[str, ...]] = ()

    def build(self, values: dict[str, Any], node: YNode, ctx: s.ParseContext) -> OptionsT:
        """Typed options from validated ``values``; override for rules that span fields
        (raise ``node.error(...)``), then call this."""
        return self.options_type(**values)

    @abstractmethod
    def check(self, options: OptionsT, record: RunRecord) -> Verdict:
        """Judge the run."""

    def verdict(self, passed: bool, detail: str, witness: dict[str, Any] | None = None,
                figures: dict[str, Any] | None = None, *,
                evidence: EvidenceKind | None = None) -> Verdict:
        """A pass or a fail, resting on the check's ``evidence`` unless this verdict says
        otherwise (e.g. a check that cross-checks reports only when there are some)."""
        return Verdict(self.name, "pass" if passed else "fail", detail, witness or {},
                       figures or {}, evidence or self.evidence)

    def unknown(self, detail: str, witness: dict[str, Any] | None = None,
                figures: dict[str, Any] | None = None) -> Verdict:
        """The check could not decide (e.g. its search ran out of budget): never a pass."""
        return Verdict(self.name, "unknown", detail, witness or {}, figures or {},
                       self.evidence)

    def not_applicable(self, detail: str) -> Verdict:
        """The run offers nothing this check judges from: neither pass nor fail."""
        return Verdict(self.name, "not_applicable", detail, evidence=self.evidence)
