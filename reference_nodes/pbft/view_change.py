"""View changes: replacing a primary that stalls, is cut off or is proven to lie.

A backup holding a request starts a timer for it; if the request is not executed within
``view_change_timeout_ms`` — doubled for each view change since the last progress — the
backup moves to the next view, sending a view change with its stable checkpoint's proof and
a prepared certificate (the signed pre-prepare and 2f prepares) for every request prepared
above it. Proof that the primary lies starts a view change at once (see
:mod:`.authentication`), and a replica that sees f+1 replicas ask for later views joins the
lowest of them.

The new primary, with 2f+1 view changes, re-proposes each certified request (the one of the
highest view) and fills gaps with null requests; the backups check the new view by
recomputing it. A view change that does not complete moves on to the next view once a
quorum has asked for it, and is sent again otherwise. A replica that sees f+1 replicas in a
later view asks them for the new-view message that started it.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from reference_nodes.common.maelstrom import JSON, Message
from reference_nodes.pbft.authentication import (
    NEW_VIEW,
    PREPARE,
    PREPREPARE,
    VIEW_CHANGE,
    header,
    well_formed,
)
from reference_nodes.pbft.crypto import batch_digest

if TYPE_CHECKING:
    from reference_nodes.pbft.node import Replica

# The replica logs under one name, whichever part speaks.
log = logging.getLogger("reference_nodes.pbft")


def reproposals(vcs: list[JSON]) -> list[tuple[int, list[JSON]]]:
    """The batches a new view must carry: for every sequence number between the highest
    stable checkpoint and the highest prepared certificate, the batch of the certificate
    of the highest view, or a null request."""
    low = max(vc["stable"] for vc in vcs)
    best: dict[int, JSON] = {}
    for vc in vcs:
        for cert in vc["prepared"]:
            pp = cert["pp"]
            if pp["seq"] > low and (pp["seq"] not in best
                                    or pp["view"] > best[pp["seq"]]["view"]):
                best[pp["seq"]] = pp
    high = max(best, default=low)
    return [(seq, best[seq]["batch"] if seq in best else [])
            for seq in range(low + 1, high + 1)]


class ViewChange:
    """One replica's view-change timer, and the view changes and new views it takes part in."""

    def __init__(self, replica: Replica) -> None:
        self.replica = replica
        self.runtime = replica.runtime
        self.view_changes: dict[int, dict[str, JSON]] = {}
        self.new_views: dict[int, JSON] = {}
        self.higher_views: dict[str, int] = {}
        self.vc_started = 0.0
        self.vc_attempts = 0
        self.timer: tuple[str, int] | None = None
        self.timer_since = 0.0
        self.asked_new_view = 0.0
        self.views: list[list[Any]] = [[0, time.time()]]  # what dchaos_state reports

    # -- the timer -------------------------------------------------------------------------

    def start_timer(self, client: str, timestamp: int) -> None:
        self.timer = (client, timestamp)
        self.timer_since = self.runtime.now()

    def after_progress(self) -> None:
        """Executions happened: re-arm or stop the view-change timer; propose more."""
        r = self.replica
        if r.me == r.primary():
            r.ordering.schedule_flush()
            return
        if self.timer is not None:
            waiting = r.waiting.get(self.timer[0])
            if waiting is None or waiting.request["timestamp"] != self.timer[1]:
                self.timer = None  # what it waited for was executed
        if self.timer is None and r.waiting:
            oldest = min(r.waiting.values(), key=lambda w: w.since).request
            self.start_timer(oldest["client"], oldest["timestamp"])

    def tick(self) -> None:
        r = self.replica
        now = self.runtime.now()
        timeout = r.vc_timeout * (2 ** min(self.vc_attempts, 6))
        if r.active:
            if self.timer is not None and now - self.timer_since > timeout \
                    and r.me != r.primary():
                if r.checkpoints.behind:
                    self.timer_since = now  # lagging here, not stalled there
                    return
                r.suspect(r.primary(), "stall", f"request {self.timer[1]} of "
                          f"{self.timer[0]} not executed within {timeout:.2f}s")
                self.start_view_change(r.view + 1)
        elif now - self.vc_started > timeout:
            if len(self.view_changes.get(r.view, {})) >= r.quorum:
                self.start_view_change(r.view + 1)  # a quorum moved, its primary failed
            else:
                # Not enough replicas want this view yet: say so again (it may have been
                # lost), rather than run ahead alone into ever later views.
                mine = self.view_changes.get(r.view, {}).get(r.me)
                if mine is not None:
                    r.send([peer for peer in r.replicas if peer != r.me], mine)
                self.vc_started = now

    # -- view changes ----------------------------------------------------------------------

    def start_view_change(self, view: int) -> None:
        r = self.replica
        if view <= r.view and not r.active:
            return
        log.info("view change to %d (primary %s)", view, r.primary(view))
        r.view = view
        r.active = False
        self.vc_started = self.runtime.now()
        self.vc_attempts += 1
        self.timer = None
        r.queue.clear()
        prepared = [cert for seq, cert in sorted(r.certs.items()) if seq > r.low]
        mine = r.broadcast({"type": VIEW_CHANGE, "view": view, "stable": r.low,
                            "proof": r.checkpoints.stable_proof, "prepared": prepared,
                            "replica": r.me})
        self.view_changes.setdefault(view, {})[r.me] = mine
        self.maybe_new_view(view)

    def on_view_change(self, msg: Message) -> None:
        r = self.replica
        body = r.auth.authenticate(msg, VIEW_CHANGE)
        if body is None or body["view"] < r.view:
            return
        problem = self.view_change_problem(body)
        if problem:
            r.suspect(body["replica"], "bad_view_change", problem, header(body))
            return
        view = body["view"]
        self.view_changes.setdefault(view, {})[body["replica"]] = body
        # f+1 replicas want a later view: at least one honest replica timed out, so join.
        later = {sender for v, vcs in self.view_changes.items() if v > r.view
                 for sender in vcs}
        if len(later) >= r.f + 1:
            if r.active and self.timer is not None and r.me != r.primary():
                waited = self.runtime.now() - self.timer_since
                r.suspect(r.primary(), "stall", f"request {self.timer[1]} of "
                          f"{self.timer[0]} not executed after {waited:.2f}s, when f+1 "
                          "replicas asked for a view change")
            self.start_view_change(min(v for v, vcs in self.view_changes.items()
                                       if v > r.view and vcs))
        self.maybe_new_view(view)

    def view_change_problem(self, body: JSON) -> str | None:
        """What makes a view-change message unacceptable, or None."""
        stable = body["stable"]
        if stable > 0:
            problem = self.replica.checkpoints.checkpoint_proof_problem(stable, body["proof"])
            if problem:
                return f"view change with a bad checkpoint proof: {problem}"
        for cert in body["prepared"]:
            problem = self.cert_problem(cert, body["view"], stable)
            if problem:
                return f"view change with a bad prepared certificate: {problem}"
        return None

    def cert_problem(self, cert: Any, view: int, stable: int) -> str | None:
        if not isinstance(cert, dict) or not well_formed(cert.get("pp"), PREPREPARE):
            return "no pre-prepare"
        r = self.replica
        pp = cert["pp"]
        if pp["view"] >= view or not stable < pp["seq"] <= stable + r.log_size:
            return f"pre-prepare of view {pp['view']}, seq {pp['seq']} out of place"
        if pp["replica"] != r.primary(pp["view"]) or not r.auth.verify(pp["replica"], pp):
            return "the pre-prepare is not signed by its view's primary"
        if batch_digest(pp["batch"]) != pp["digest"]:
            return "the pre-prepare's batch does not match its digest"
        prepares = cert.get("prepares")
        signers = set()
        for p in prepares if isinstance(prepares, list) else []:
            if well_formed(p, PREPARE) and (p["view"], p["seq"], p["digest"]) == \
                    (pp["view"], pp["seq"], pp["digest"]) and p["replica"] != pp["replica"] \
                    and r.auth.verify(p["replica"], p):
                signers.add(p["replica"])
        if len(signers) < 2 * r.f:
            return f"{len(signers)} valid prepares, {2 * r.f} needed"
        return None

    # -- new views -------------------------------------------------------------------------

    def maybe_new_view(self, view: int) -> None:
        r = self.replica
        if r.primary(view) != r.me or view != r.view or r.active \
                or view in self.new_views:
            return
        vcs = self.view_changes.get(view, {})
        if len(vcs) < r.quorum:
            return
        chosen = [vcs[sender] for sender in sorted(vcs)][:r.quorum]
        if r.me in vcs and vcs[r.me] not in chosen:
            chosen = [vcs[r.me], *chosen[:r.quorum - 1]]
        # The rule is the replica's (see reproposals), so that a variant can change it.
        preprepares = [r.keys.sign({"type": PREPREPARE, "view": view, "seq": seq,
                                    "digest": batch_digest(batch), "replica": r.me,
                                    "batch": batch})
                       for seq, batch in r.reproposals(chosen)]
        body = r.broadcast({"type": NEW_VIEW, "view": view, "view_changes": chosen,
                            "preprepares": preprepares, "replica": r.me})
        self.enter_view(body, chosen)

    def on_new_view(self, msg: Message) -> None:
        r = self.replica
        body = r.auth.authenticate(msg, NEW_VIEW)
        if body is None:
            return
        view = body["view"]
        if view < r.view or (view == r.view and r.active):
            return
        if body["replica"] != r.primary(view):
            r.suspect(body["replica"], "not_primary", f"new view {view} from a replica "
                      "that is not its primary", header(body))
            return
        problem = self.new_view_problem(body)
        if problem:
            r.suspect(body["replica"], "bad_new_view", problem, header(body))
            return
        self.enter_view(body, body["view_changes"])

    def new_view_problem(self, body: JSON) -> str | None:
        r = self.replica
        view, vcs = body["view"], body["view_changes"]
        signers = set()
        for vc in vcs:
            if not well_formed(vc, VIEW_CHANGE) or vc["view"] != view \
                    or not r.auth.verify(vc["replica"], vc) or self.view_change_problem(vc):
                return "it carries a view change that does not check"
            signers.add(vc["replica"])
        if len(signers) < r.quorum:
            return f"{len(signers)} view changes, {r.quorum} needed"
        expected = [(seq, batch_digest(batch)) for seq, batch in r.reproposals(vcs)]
        got = []
        for pp in body["preprepares"]:
            if not well_formed(pp, PREPREPARE) or pp["view"] != view \
                    or pp["replica"] != body["replica"] or not r.auth.verify(pp["replica"], pp) \
                    or batch_digest(pp["batch"]) != pp["digest"]:
                return "it carries a pre-prepare that does not check"
            got.append((pp["seq"], pp["digest"]))
        if got != expected:
            return "its pre-prepares are not the ones its view changes call for"
        return None

    def enter_view(self, body: JSON, vcs: list[JSON]) -> None:
        r = self.replica
        view = body["view"]
        r.view = view
        r.active = True
        self.new_views = {view: body}
        self.view_changes = {v: m for v, m in self.view_changes.items() if v > view}
        self.higher_views = {src: v for src, v in self.higher_views.items() if v > view}
        self.views.append([view, time.time()])
        log.info("entered view %d (primary %s)", view, r.primary(view))
        best_stable = max(vcs, key=lambda vc: vc["stable"])
        if best_stable["stable"] > r.low:
            r.checkpoints.make_stable(best_stable["stable"], best_stable["proof"])
        r.slots = {s: slot for s, slot in r.slots.items() if s <= r.low}
        r.proposed.clear()
        r.queue.clear()
        top = r.low
        for pp in body["preprepares"]:
            top = max(top, pp["seq"])
            if not r.ordering.in_window(pp["seq"]):
                continue
            r.ordering.accept_preprepare(pp)
            slot = r.slots[pp["seq"]]
            if r.me != body["replica"]:
                slot.prepares[r.me] = r.broadcast({
                    "type": PREPARE, "view": view, "seq": pp["seq"], "digest": pp["digest"],
                    "replica": r.me, "pp_sig": pp.get("sig")}, pp["batch"])
        r.seq = max(top, r.last_exec)
        self.timer = None
        now = self.runtime.now()
        for waiting in r.waiting.values():
            waiting.since = now
        if r.me == r.primary():
            for client, waiting in sorted(r.waiting.items(), key=lambda cw: cw[1].since):
                key = (client, waiting.request["timestamp"])
                if key not in r.proposed:
                    r.queue[key] = waiting.request
            r.ordering.schedule_flush()
        elif r.waiting:
            oldest = next(iter(r.waiting.values())).request
            self.start_timer(oldest["client"], oldest["timestamp"])
        for slot in list(r.slots.values()):
            r.ordering.maybe_prepared(slot)

    def note_higher_view(self, src: str, view: int) -> None:
        """f+1 replicas speak in a later view: this replica missed a view change (it was
        cut off, or restarted); ask them for the new-view message."""
        r = self.replica
        self.higher_views[src] = max(view, self.higher_views.get(src, 0))
        if len(self.higher_views) < r.f + 1:
            return
        now = self.runtime.now()
        if now - self.asked_new_view < r.vc_timeout:
            return
        self.asked_new_view = now
        for peer in self.higher_views:
            self.runtime.send(peer, {"type": "pbft_get_new_view", "view": r.view})

    def on_get_new_view(self, msg: Message) -> None:
        latest = max(self.new_views, default=None)
        r = self.replica
        if latest is not None and r.active and r.behaviour.name != "silent":
            self.runtime.send(msg.src, self.new_views[latest])
