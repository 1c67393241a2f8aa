"""Round-trip estimates that set the failure detector's timeouts.

A fixed probe timeout is either too short for a slow network (every probe fails: false
suspicions everywhere) or too long for a fast one (failures are found late). So each
direct ping's round trip is measured and the timeout follows it the way TCP's
retransmission timeout does (Jacobson/Karels): a smoothed mean plus four mean deviations,
with a floor of a quarter of the mean for networks so steady that the deviation vanishes.

The deviation is the cluster's, the mean is the larger of the cluster's and the probed
member's own, so one member behind a slow link gets a timeout that fits it without every
other member's timeout growing.
"""

from __future__ import annotations

_GAIN = 1 / 8  # smoothing gain of the mean (TCP's alpha)
_DEV_GAIN = 1 / 4  # smoothing gain of the deviation (TCP's beta)


class RoundTripEstimator:
    """Smoothed round-trip time and deviation, for the cluster and per member."""

    def __init__(self, initial: float, minimum: float, maximum: float, adaptive: bool) -> None:
        self.initial = initial
        self.minimum = minimum
        self.maximum = maximum
        self.adaptive = adaptive
        self.srtt: float | None = None
        self.rttvar = 0.0
        self._per_member: dict[str, float] = {}

    def observe(self, member: str, seconds: float) -> None:
        """Record one measured round trip to ``member``."""
        if seconds < 0:
            return
        if self.srtt is None:
            self.srtt, self.rttvar = seconds, seconds / 2
        else:
            self.rttvar += _DEV_GAIN * (abs(seconds - self.srtt) - self.rttvar)
            self.srtt += _GAIN * (seconds - self.srtt)
        own = self._per_member.get(member)
        self._per_member[member] = seconds if own is None else own + _GAIN * (seconds - own)

    def timeout(self, member: str | None = None) -> float:
        """How long to wait for ``member``'s ack before probing it indirectly."""
        if not self.adaptive:
            return self.initial
        if self.srtt is None:
            return min(max(self.initial, self.minimum), self.maximum)
        mean = max(self.srtt, self._per_member.get(member, 0.0) if member else 0.0)
        rto = mean + max(4 * self.rttvar, mean / 4)
        return min(max(rto, self.minimum), self.maximum)

    def snapshot(self) -> dict[str, float | None]:
        return {
            "srtt_ms": None if self.srtt is None else round(self.srtt * 1000, 1),
            "rttvar_ms": round(self.rttvar * 1000, 1),
            "probe_timeout_ms": round(self.timeout() * 1000, 1),
        }
