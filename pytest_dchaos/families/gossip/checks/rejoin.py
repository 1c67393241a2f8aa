"""``rejoin``: after the final heal, every live node sees every other live node alive."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_dchaos.checkers.base import CheckerType
from pytest_dchaos.families.gossip.observations import ALIVE, MEMBERSHIP, membership_samples
from pytest_dchaos.record.result import RunRecord, Verdict
from pytest_dchaos.scenario import schema as s


@dataclass(frozen=True)
class RejoinOptions:
    within: float


class Rejoin(CheckerType[RejoinOptions]):
    name = "rejoin"
    doc = ("Within `within` of the last fault (the last time the timeline changed: a heal, "
           "a restart, a partition ending), every live node sees every other live node alive "
           "and keeps seeing it so: healed and restarted nodes are re-admitted.")
    blind_to = ("Whether a rejoined node really takes part: `members` is its own belief "
                "(convergence judges what it holds); and views between two samples of the "
                "membership monitor.")
    protocols = ("gossip",)
    evidence = "reported"
    requires = frozenset({"members"})
    needs = frozenset({MEMBERSHIP})
    options = s.Struct((s.Field("within", s.Duration(), "deadline after the heal", 10.0),),
                       shorthand="within")
    options_type = RejoinOptions

    def check(self, options: RejoinOptions, record: RunRecord) -> Verdict:
        healed = max((e.time for e in record.faults), default=0.0)
        samples = [smp for smp in membership_samples(record) if smp.views and smp.t >= healed]
        if not samples:
            return self.verdict(False, f"no membership view was sampled after the last fault "
                                f"({healed:.2f}s; does the node answer `members`?)")
        live = [n for n in record.nodes if n not in record.down_at_end]
        within = options.within
        late: list[str] = []
        slowest = 0.0
        for observer in live:
            for member in live:
                if member == observer:
                    continue
                since = None
                for sample in samples:
                    state = sample.state(observer, member)
                    if state == ALIVE:
                        since = sample.t if since is None else since
                    elif observer in sample.views:
                        since = None
                if since is None:
                    last = next((smp.state(observer, member) for smp in reversed(samples)
                                 if observer in smp.views), "no answer")
                    late.append(f"{observer} still sees {member} as {last}")
                elif since - healed > within:
                    late.append(f"{observer} re-admitted {member} only {since - healed:.2f}s "
                                f"after the last fault ({healed:.2f}s)")
                else:
                    slowest = max(slowest, since - healed)
        figures = {"slowest_rejoin_s": round(slowest, 3), "pairs": len(live) * (len(live) - 1)}
        if late:
            return self.verdict(False, f"{len(late)} pair(s) not re-admitted within "
                                f"{within:g}s: " + "; ".join(late[:5]),
                                {"late": late[:50]}, figures)
        return self.verdict(True, f"all {len(live)} live nodes see each other alive, at most "
                            f"{slowest:.2f}s after the last fault ({healed:.2f}s)",
                            figures=figures)
