"""The fault contract: what a key in a scenario's ``faults:`` list does to a cluster.

Implementers subclass :class:`FaultType` as ``FaultType[MyOptions]``, declare ``options``
with the schema kinds, say how ``MyOptions`` is made from them (``options_type``, or their
own :meth:`FaultType.build`), and implement :meth:`FaultType.start` (and
:meth:`FaultType.stop` when the fault can be reverted). The scheduler draws every random
choice before the run (:meth:`resolve`), so a seed reproduces the same schedule; ``start``
and ``stop`` then act on concrete nodes only.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final, Generic, Literal, TypeVar

from pytest_dchaos.record.result import Effect
from pytest_dchaos.scenario import schema as s
from pytest_dchaos.scenario.yamlsource import YNode

if TYPE_CHECKING:
    from pytest_dchaos.cluster.running import Cluster

#: A fault's typed options: what :meth:`FaultType.build` makes, and every other method takes.
OptionsT = TypeVar("OptionsT")

#: What a fault acts on; ``heal`` reverts faults by scope.
Scope = Literal["network", "messages", "process", "control"]
NETWORK: Final = "network"
MESSAGES: Final = "messages"
PROCESS: Final = "process"
CONTROL: Final = "control"


@dataclass
class FaultEnv:
    """What a fault gets to act with. ``key`` is unique per firing and owns whatever the
    fault installs (cut links, toxics, message rules), so reverting it is exact."""

    cluster: Cluster
    key: str
    #: The nemesis, for faults that act on other faults (``heal``).
    nemesis: Any = None
    #: The node in the protocol's leading role now, as its family tells it from what the
    #: harness saw (None: no node leads now, or the family cannot tell).
    leader: Callable[[], str | None] = lambda: None


class FaultType(ABC, Generic[OptionsT]):
    name: ClassVar[str]
    doc: ClassVar[str]
    options: ClassVar[s.Struct]
    #: What the default :meth:`build` makes: a frozen dataclass with one field per option,
    #: named alike (``options`` is taken: it is the schema). Not a ClassVar, which cannot
    #: hold the type variable: this way mypy checks it against the type parameter. Faults
    #: whose options take another shape after validation override :meth:`build` instead.
    options_type: type[OptionsT]
    scope: ClassVar[Scope] = NETWORK
    #: False for faults that cannot be undone (restart): ``duration`` is refused for them.
    revertible: ClassVar[bool] = True
    #: Whether ``heal`` (and the final heal before the last reads) reverts it; a crash is
    #: revertible by its own ``duration`` but not healed.
    healable: ClassVar[bool] = True
    #: What checkers learn from the timeline: ``cut`` (links lost), ``lossy`` (some
    #: messages lost), ``slow``, ``crash``, ``pause``, ``restart``, ``byzantine`` or
    #: ``other``. With the nodes and links of each firing, this lets a checker tell a real
    #: failure from a false positive without knowing fault kinds.
    effect: ClassVar[Effect] = "other"

    def build(self, values: dict[str, Any], node: YNode, ctx: s.ParseContext) -> OptionsT:
        """Typed options from validated ``values``; override for cross-field rules."""
        return self.options_type(**values)

    def resolve(self, options: OptionsT, rng: random.Random,
                nodes: tuple[str, ...]) -> OptionsT:
        """Replace random selectors with concrete choices (called once per firing)."""
        return options

    def at_fire(self, options: OptionsT, env: FaultEnv) -> OptionsT:
        """The options as they fire: ``leader`` replaced by the node leading now (called
        once, just before :meth:`start`; :meth:`stop` gets what this returns)."""
        return options

    def nodes(self, options: OptionsT) -> tuple[str, ...]:
        """The nodes a resolved fault targets, for the timeline (may be empty)."""
        return ()

    def effect_of(self, options: OptionsT) -> Effect:
        """The effect of one resolved firing (some faults' effect depends on options)."""
        return self.effect

    def links(self, options: OptionsT) -> frozenset[tuple[str, str]]:
        """The directed links a resolved fault acts on, for the timeline (may be empty)."""
        return frozenset()

    def delay_of(self, options: OptionsT) -> float:
        """For a ``slow`` firing: the longest it holds a message back on its links, in
        seconds (latency plus jitter); ``math.inf`` where the harness knows no bound (a
        bandwidth limit queues messages without one). 0 for every other fault. Checkers
        use it to tell a detector's false suspicion it could have avoided from one no
        detector could (:mod:`pytest_dchaos.checkers.conditions`)."""
        return 0.0

    @abstractmethod
    def describe(self, options: OptionsT) -> str:
        """One short line for progress output and the fault timeline."""

    @abstractmethod
    def start(self, options: OptionsT, env: FaultEnv) -> None:
        """Apply the fault now."""

    def stop(self, options: OptionsT, env: FaultEnv) -> None:
        """Revert the fault (after ``duration``, at a heal, and before the final phase)."""


def pick_node(value: str, rng: random.Random, nodes: tuple[str, ...]) -> str:
    """Resolve a node selector: ``random`` draws one node from the seed."""
    return rng.choice(nodes) if value == "random" else value


def with_leader(names: tuple[str, ...], env: FaultEnv) -> tuple[str, ...]:
    """``names`` with ``leader`` replaced by the node leading now, each node once; left out
    when no node leads (the fault then targets only the others, maybe none)."""
    if "leader" not in names:
        return names
    leader = env.leader()
    out = [leader if n == "leader" else n for n in names]
    return tuple(dict.fromkeys(n for n in out if n is not None))
