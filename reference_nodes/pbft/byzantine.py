"""Byzantine behaviours a replica can be switched into (``dchaos_byzantine``).

Every behaviour acts on what the replica sends — the protocol code stays honest and knows
nothing of it — so a behaviour is exactly a function from an honest message to what a
faulty replica sends instead. All of them sign with the replica's real key (but ``forge``),
which is what makes their lies provable by the honest replicas.

* ``silent``: sends nothing at all, to replicas or clients.
* ``equivocate``: tells two groups of replicas two different things. The groups are fixed
  (even and odd positions in the replica list) and so are the two versions of a batch (its
  requests in order, or in reverse order; a batch of one request is not equivocated), so that
  several equivocating replicas collude: as primary it pre-prepares one version to each
  group, as backup it prepares and commits each group's version. One such replica cannot
  make honest ones disagree; f+1 of them can. With ``collude``, a backup lies only on the
  slots where its primary lies too (it knows so when it was told the second version: it is
  in the odd group), so it never lies alone, where it would only give itself away.
* ``forge``: every signature it sends is wrong.
* ``corrupt``: digests that do not match what they describe (pre-prepares whose batch
  differs from their digest, prepares and commits of digests nobody proposed).
* ``replay``: sends, along with each message, copies of old messages it sent before.
* ``slow_primary``: as primary, holds every pre-prepare back for ``delay_ms``.
* ``invent``: as primary, adds to every batch a write no client asked for (its MACs made
  up, since it has no client's key).
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from typing import Any

from reference_nodes.pbft.crypto import JSON, batch_digest, batch_order, digest

BEHAVIOURS = ("honest", "silent", "equivocate", "forge", "corrupt", "replay", "slow_primary",
              "invent")
#: A send: (destination, body, delay in seconds).
Send = tuple[str, JSON, float]


class Behaviour:
    def __init__(self, name: str, options: JSON, me: str,
                 sign: Callable[[JSON], JSON], seed: int) -> None:
        self.name = name
        self.me = me
        self.sign = sign
        self.rng = random.Random(f"{seed}:{me}:{name}")
        self.delay = float(options.get("delay_ms", 1500)) / 1000.0
        self.replay_copies = int(options.get("copies", 3))
        self.collude = options.get("collude") is True
        self._sent: deque[tuple[str, JSON]] = deque(maxlen=256)
        self.altered = 0

    @property
    def honest(self) -> bool:
        return self.name == "honest"

    def to_client(self, body: JSON) -> bool:
        """May a reply to a client go out?"""
        return self.name != "silent"

    def outgoing(self, dest: str, body: JSON, peers: list[str],
                 batch: list[JSON] | None = None) -> list[Send]:
        """What is sent instead of the honest, signed ``body`` to replica ``dest``;
        ``batch`` is the batch a prepare or commit is about, when known."""
        handler = getattr(self, "_" + self.name, None)
        if handler is None:
            return [(dest, body, 0.0)]
        self.batch = batch if batch is not None else body.get("batch")
        sends: list[Send] = handler(dest, body, peers)
        if sends != [(dest, body, 0.0)]:
            self.altered += 1
        return sends

    # -- the behaviours -------------------------------------------------------------------

    def _silent(self, dest: str, body: JSON, peers: list[str]) -> list[Send]:
        return []

    batch: list[JSON] | None = None

    @staticmethod
    def version(batch: list[JSON], odd: bool) -> list[JSON]:
        """The version of ``batch`` one group is told (the same for every colluder)."""
        ordered = sorted(batch, key=batch_order)
        # A single request has no second version a colluder could rebuild from the other.
        return list(reversed(ordered)) if odd and len(ordered) > 1 else ordered

    #: Equivocation starts with the first slot it pre-prepares (or prepares) once
    #: Byzantine: a slot begun honestly is not finished as a lie (which would only show a
    #: messy transition, not equivocation).
    since_seq: int | None = None

    def _equivocate(self, dest: str, body: JSON, peers: list[str]) -> list[Send]:
        kind = body.get("type")
        if kind not in ("pbft_preprepare", "pbft_prepare", "pbft_commit") or self.batch is None:
            return [(dest, body, 0.0)]
        seq = int(body.get("seq", 0))
        if self.collude and kind != "pbft_preprepare" and self.batch == self.version(
                self.batch, odd=False) and peers[_view(body) % len(peers)] != self.me:
            return [(dest, body, 0.0)]  # a backup whose primary told it no lie to join
        if self.since_seq is None:
            if kind == "pbft_commit":
                return [(dest, body, 0.0)]  # a slot it began honestly
            self.since_seq = seq
        if seq < self.since_seq:
            return [(dest, body, 0.0)]
        odd = sorted(peers, key=_position).index(dest) % 2 == 1 if dest in peers else False
        told = self.version(self.batch, odd)
        if kind == "pbft_preprepare":
            return [(dest, self.sign({**body, "batch": told, "digest": batch_digest(told)}),
                     0.0)]
        return [(dest, self.sign({**body, "digest": batch_digest(told)}), 0.0)]

    def _forge(self, dest: str, body: JSON, peers: list[str]) -> list[Send]:
        sig = str(body.get("sig", ""))
        bad = "".join(self.rng.choice("0123456789abcdef") for _ in sig) or "00"
        return [(dest, {**body, "sig": bad}, 0.0)]

    def _corrupt(self, dest: str, body: JSON, peers: list[str]) -> list[Send]:
        kind = body.get("type")
        if kind == "pbft_preprepare":
            return [(dest, self.sign({**body, "digest": digest(["corrupt", body.get("seq")])}),
                     0.0)]
        if kind in ("pbft_prepare", "pbft_commit", "pbft_checkpoint"):
            field = "state_digest" if kind == "pbft_checkpoint" else "digest"
            return [(dest, self.sign({**body, field: digest(["corrupt", body.get(field)])}),
                     0.0)]
        return [(dest, body, 0.0)]

    def _replay(self, dest: str, body: JSON, peers: list[str]) -> list[Send]:
        sends: list[Send] = [(dest, body, 0.0)]
        old = [b for d, b in self._sent if d == dest]
        if old:
            stale = self.rng.choice(old)
            sends += [(dest, stale, 0.0)] * self.replay_copies
        self._sent.append((dest, body))
        return sends

    def _invent(self, dest: str, body: JSON, peers: list[str]) -> list[Send]:
        if body.get("type") != "pbft_preprepare":
            return [(dest, body, 0.0)]
        batch = [*(body.get("batch") or []), invented_request(int(body.get("seq", 0)), peers)]
        return [(dest, self.sign({**body, "batch": batch, "digest": batch_digest(batch)}), 0.0)]

    def _slow_primary(self, dest: str, body: JSON, peers: list[str]) -> list[Send]:
        if body.get("type") == "pbft_preprepare":
            return [(dest, body, self.delay)]
        return [(dest, body, 0.0)]


def invented_request(seq: int, peers: list[str]) -> JSON:
    return {"client": "c1", "timestamp": 1_000_000_000 + seq,
            "op": {"f": "write", "key": 0, "value": -seq},
            "auth": {p: "00" * 32 for p in peers}}


def _view(body: JSON) -> int:
    view = body.get("view")
    return view if isinstance(view, int) else 0


def _position(node: str) -> tuple[int, str]:
    digits = node.lstrip("n")
    return (int(digits), node) if digits.isdigit() else (1 << 30, node)


def parse_options(body: JSON) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("type", "msg_id", "behavior")}
