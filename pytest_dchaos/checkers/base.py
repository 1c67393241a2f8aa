"""The checker contract: judge a finished run from its record alone.

A checker never touches a live cluster, a backend or the fault layer: it reads the
:class:`RunRecord` (history, fault timeline, message counts, family observations, node
states) and returns a :class:`Verdict` whose ``detail`` a person can act on and whose
``evidence`` points at the operations, nodes and times involved. A checker that cannot judge
(e.g. no observations because the node does not implement ``members``) fails and says why,
rather than passing vacuously.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import MappingProxyType
from typing import Any, ClassVar

from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.yamlsource import YNode


class CheckerType(ABC):
    name: ClassVar[str]
    doc: ClassVar[str]
    options: ClassVar[s.Struct] = s.Struct(())
    #: Families this check applies to; None for all.
    protocols: ClassVar[tuple[str, ...] | None] = None
    #: Observations the family must collect during the run for this check.
    needs: ClassVar[frozenset[str]] = frozenset()

    def build(self, values: dict[str, Any], node: YNode, ctx: s.ParseContext) -> Any:
        return MappingProxyType(values)

    @abstractmethod
    def check(self, options: Any, record: RunRecord) -> Verdict:
        """Judge the run."""

    def verdict(self, passed: bool, detail: str, evidence: dict[str, Any] | None = None,
                figures: dict[str, Any] | None = None) -> Verdict:
        return Verdict(self.name, passed, detail, evidence or {}, figures or {})
