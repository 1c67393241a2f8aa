"""The gossip node's parameters: names, defaults, and what each one trades.

All of them are optional and come from ``init.dchaos.params``; durations are milliseconds
on the wire (``*_ms``) and seconds here. The defaults are tuned for the project's benchmark
— 25 nodes, 100 ms one-way latency on every link, ~100 client operations a second, on a
2-core machine — where they keep fewer than 20 server messages per operation, a median
stable latency under 400 ms (max under 600 ms), detect a killed node everywhere within 3 s
and raise no false positives. ``docs/nodes/gossip.md`` explains each one at length.

=============================  ========  ===================================================
parameter                      default   meaning
=============================  ========  ===================================================
``probe_interval_ms``          150       a SWIM probe of the next member starts this often
                                         (probes overlap; each lasts about 3 probe timeouts)
``probe_timeout_ms``           500       direct-ack timeout before any round trip has been
                                         measured; the fixed timeout if adaptation is off
``probe_timeout_min_ms``       100       floor of the adaptive timeout (scheduling noise)
``probe_timeout_max_ms``       5000      ceiling of the adaptive timeout
``adaptive_timeouts``          true      derive probe and suspicion timeouts from measured
                                         round trips (TCP-style smoothed RTT and variance)
``indirect_probes``            3         k members asked to ``ping_req`` an unanswering one
``suspicion_timeout_ms``       800       a suspect not refuted this long is declared dead
                                         (at least 3 probe timeouts of the suspect)
``startup_grace_ms``           5000      after init, a member never heard from is not
                                         suspected yet (nodes of a cluster start one by one)
``gossip_interval_ms``         200       at most one batch per peer per interval, and only
                                         to peers that may lack something (a value reaching
                                         a quiet node leaves at once)
``anti_entropy_interval_ms``   1000      a version-vector exchange with one random member
``overlay``                    "auto"    who gossips to whom: "full" (every node to every
                                         node: one hop), "circulant" (a low-diameter graph of
                                         degree ``overlay_degree`` computed from node_ids),
                                         "topology" (the harness's topology), "auto" (full up
                                         to 32 nodes, circulant above)
``overlay_degree``             6         degree of the circulant overlay
``retransmit_mult``            3         λ: each membership update is piggybacked at most
                                         λ·⌈log2(n+1)⌉ times
``max_piggyback``              8         membership updates piggybacked on one message
=============================  ========  ===================================================
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from reference_nodes.common.maelstrom import Params

OVERLAYS = ("auto", "full", "circulant", "topology")


@dataclass(frozen=True)
class GossipConfig:
    """The node's effective parameters (seconds for durations)."""

    probe_interval: float = 0.15
    probe_timeout: float = 0.5
    probe_timeout_min: float = 0.1
    probe_timeout_max: float = 5.0
    adaptive_timeouts: bool = True
    indirect_probes: int = 3
    suspicion_timeout: float = 0.8
    startup_grace: float = 5.0
    gossip_interval: float = 0.2
    anti_entropy_interval: float = 1.0
    overlay: str = "auto"
    overlay_degree: int = 6
    retransmit_mult: int = 3
    max_piggyback: int = 8

    @classmethod
    def from_params(cls, params: Params) -> GossipConfig:
        """Read every parameter (error 12 on a bad one), falling back to the defaults."""
        d = cls()
        ms = 1000.0
        config = cls(
            probe_interval=params.duration("probe_interval_ms", d.probe_interval * ms,
                                           minimum_ms=1),
            probe_timeout=params.duration("probe_timeout_ms", d.probe_timeout * ms,
                                          minimum_ms=1),
            probe_timeout_min=params.duration("probe_timeout_min_ms", d.probe_timeout_min * ms,
                                              minimum_ms=1),
            probe_timeout_max=params.duration("probe_timeout_max_ms", d.probe_timeout_max * ms,
                                              minimum_ms=1),
            adaptive_timeouts=params.boolean("adaptive_timeouts", d.adaptive_timeouts),
            indirect_probes=params.integer("indirect_probes", d.indirect_probes, minimum=0),
            suspicion_timeout=params.duration("suspicion_timeout_ms", d.suspicion_timeout * ms),
            startup_grace=params.duration("startup_grace_ms", d.startup_grace * ms),
            gossip_interval=params.duration("gossip_interval_ms", d.gossip_interval * ms,
                                            minimum_ms=1),
            anti_entropy_interval=params.duration("anti_entropy_interval_ms",
                                                  d.anti_entropy_interval * ms, minimum_ms=1),
            overlay=params.choice("overlay", d.overlay, OVERLAYS),
            overlay_degree=params.integer("overlay_degree", d.overlay_degree, minimum=2),
            retransmit_mult=params.integer("retransmit_mult", d.retransmit_mult, minimum=1),
            max_piggyback=params.integer("max_piggyback", d.max_piggyback, minimum=0),
        )
        if config.probe_timeout_min > config.probe_timeout_max:
            raise params.invalid("probe_timeout_min_ms", "at most probe_timeout_max_ms")
        return config

    def as_params(self) -> dict[str, Any]:
        """The configuration as wire parameters (``*_ms`` in milliseconds), for reports."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if isinstance(value, float):
                out[f"{name}_ms"] = round(value * 1000, 3)
            else:
                out[name] = value
        return out
