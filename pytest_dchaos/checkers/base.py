"""The checker contract: judge a finished run from its record alone.

A checker never touches a live cluster, a backend or the fault layer: it reads the
:class:`RunRecord` (history, fault timeline, message counts, family observations, node
states) and returns a :class:`Verdict` whose ``detail`` a person can act on and whose
``evidence`` points at the operations, nodes and times involved. A checker that cannot judge
(e.g. no observations because the node does not implement ``members``) fails and says why,
rather than passing vacuously.

A checker's options arrive typed: ``options`` (the schema) says what a scenario may write,
``options_type`` (a frozen dataclass with one field per option, named alike) is what
:meth:`CheckerType.check` receives, so a check reads ``options.within``, never a dict.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from pytest_dchaos.record.result import RunRecord, Verdict
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

    def build(self, values: dict[str, Any], node: YNode, ctx: s.ParseContext) -> OptionsT:
        """Typed options from validated ``values``; override for rules that span fields
        (raise ``node.error(...)``), then call this."""
        return self.options_type(**values)

    @abstractmethod
    def check(self, options: OptionsT, record: RunRecord) -> Verdict:
        """Judge the run."""

    def verdict(self, passed: bool, detail: str, evidence: dict[str, Any] | None = None,
                figures: dict[str, Any] | None = None) -> Verdict:
        return Verdict(self.name, passed, detail, evidence or {}, figures or {})
