"""The transaction node: a shard of a key-value store, a participant in transactions on its
keys, and the coordinator of every transaction a client sends to it.

Client messages (the contract, Maelstrom's txn-rw-register):

* ``txn {txn: [["r", k, null], ["w", k, v], ...]}`` → ``txn_ok {txn: [...]}`` with the
  values read, or an error: 14 (aborted), 30 (a lock conflict: deadlock victim or lock-wait
  timeout), 12 (a malformed transaction; nothing changes);
* ``dchaos_state`` → ``dchaos_state_ok {decisions, locks, wal_len, store, versions,
  victims, waits, blocked, txns}``.

Transaction ids are this node's own (``<coordinator>.<incarnation>.<n>``); ``txns`` ties
each to the client request that started it (``{"client": cK, "msg_id": N}``), the harness's
optional convention: the coordinator learns it from the request, hands it to the
participants with their operations, and every node keeps it in its log with the
transaction, so a node that restarted still says which request each transaction it
reports came from.

Keys are integers; key ``k`` lives on node ``node_ids[k % n]``. A transaction runs in two
stages. Execution: the coordinator sends each participant its operations (``txn_exec``);
the participant takes shared locks for reads and exclusive ones for writes (strict
two-phase locking: held until the outcome), answers the reads and keeps the writes.
Commitment, by the protocol in ``params.commit_protocol``:

* ``2pc``: ``prepare`` → each participant forces a *prepared* record and votes; the
  coordinator forces its decision, answers the client, sends ``decide`` to every
  participant, which forces *commit* before applying the writes (or drops them on abort).
  A prepared participant that hears nothing keeps asking the coordinator
  (``decision_req``) — it blocks, holding its locks, until the coordinator answers;
* ``3pc``: the same with a ``precommit`` round between the votes and the decision. A
  participant that times out waiting runs the termination protocol with the other
  participants (``state_req``): any committed → commit; any aborted → abort; any
  pre-committed → commit; all merely prepared → abort. It needs no coordinator, which is
  what it is for under crashes, and what makes it unsafe under a partition.

Deadlocks are found on a global wait-for graph (:mod:`.deadlock`) and broken by aborting the
youngest transaction of each cycle; a lock wait that lasts ``lock_timeout_ms`` aborts too.

Every decision is in the write-ahead log (:mod:`.wal`) before anyone acts on it; a
restarted node rebuilds its store, its prepared transactions (with their locks) and its
unfinished decisions from the log.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

from reference_nodes.common.maelstrom import ErrorCode, Handler, Message, Node, RPCError

from .deadlock import DeadlockDetector
from .locks import EXCLUSIVE, SHARED, LockTable
from .wal import WriteAheadLog

log = logging.getLogger("reference_nodes.txn")

JSON = dict[str, Any]
WAL_FILE = "wal.log"
COMMIT, ABORT, PENDING = "commit", "abort", "pending"
ACTIVE, PREPARED, PRECOMMITTED = "active", "prepared", "precommitted"


@dataclass
class Part:
    """This node's part in a transaction, as a participant."""

    txn: str
    coord: str
    state: str = ACTIVE
    participants: list[str] = field(default_factory=list)
    writes: dict[int, Any] = field(default_factory=dict)
    reads: set[int] = field(default_factory=set)
    waiting: asyncio.Future[None] | None = None
    wait_id: str = ""
    wait_since: float = 0.0
    since: float = 0.0
    started: float = 0.0
    #: Found prepared in the log at start: this node crashed, the others went on.
    recovered: bool = False


@dataclass
class Coord:
    """A transaction this node coordinates."""

    txn: str
    participants: list[str]
    state: str = ACTIVE
    decision: str | None = None
    aborted: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = ""
    telling: bool = False
    #: The client request that started it (``{"client", "msg_id"}``), if known.
    request: JSON | None = None


class TxnNode:
    def __init__(self, runtime: Node | None = None) -> None:
        self.runtime = runtime or Node()
        handlers: dict[str, Handler] = {"txn": self.on_txn, "dchaos_state": self.on_dchaos_state,
                    "txn_exec": self.on_exec, "prepare": self.on_prepare,
                    "precommit": self.on_precommit, "decide": self.on_decide,
                    "decision_req": self.on_decision_req, "state_req": self.on_state_req,
                    "resolve": self.on_resolve,
                    "abort_txn": self.on_abort_txn}
        self.runtime.on_many(handlers)
        self.runtime.declare_extensions("dchaos_state")
        self.runtime.on_init(self.setup)

    def run(self) -> int:
        return self.runtime.run()

    # -- set-up and recovery -------------------------------------------------------------

    def setup(self) -> None:
        runtime, params = self.runtime, self.runtime.params
        assert runtime.node_id is not None
        self.me, self.nodes = runtime.node_id, list(runtime.node_ids)
        self.protocol = params.choice("commit_protocol", "2pc", ("2pc", "3pc"))
        self.timeout = params.duration("rpc_timeout_ms", 500, minimum_ms=1)
        self.lock_timeout = params.duration("lock_timeout_ms", 3000, minimum_ms=1)
        self.retry = params.duration("decision_retry_ms", 100, minimum_ms=1)
        self.termination_timeout = params.duration("termination_timeout_ms", 400, minimum_ms=1)
        self.one_phase = params.boolean("one_phase", True)
        self.active_timeout = params.duration("active_timeout_ms", 2000, minimum_ms=1)
        detector = params.choice("deadlock_detection", "wfg", ("wfg", "timeout"))
        self.store: dict[int, Any] = {}
        self.versions: dict[int, list[Any]] = {}
        self.parts: dict[str, Part] = {}
        self.coords: dict[str, Coord] = {}
        self.decisions: dict[str, str] = {}
        #: txn -> the client request that started it: {"client": cK, "msg_id": N}.
        self.txns: dict[str, JSON] = {}
        self.locks = LockTable()
        self.victims: list[JSON] = []
        #: Prepared transactions that waited on their outcome past ``decision_retry_ms``:
        #: txn -> {since, until} (wall-clock seconds; until None while still waiting).
        self.blocked: dict[str, dict[str, str | float | None]] = {}
        #: Transactions this node coordinated and found unfinished in its log at start:
        #: txn -> "logged commit" | "logged abort" | "presumed abort".
        self.recovered: dict[str, str] = {}
        self.wal = WriteAheadLog(os.path.abspath(WAL_FILE), params.boolean("fsync", True))
        self.incarnation = self.recover()
        self.wal.append({"r": "boot", "incarnation": self.incarnation})
        # Durable before any transaction id of this life is handed out: a life whose boot
        # record were lost would reuse the previous life's ids.
        self.wal.sync()
        self.next_txn = 0
        self.waits = 0
        self.deadlocks = DeadlockDetector(self, params.duration("deadlock_interval_ms", 100,
                                                                minimum_ms=1),
                                          enabled=detector == "wfg")
        runtime.every(self.retry, self.chase_decisions)
        for coord in self.in_doubt:
            runtime.spawn(self.recover_precommitted(coord))

    def recover(self) -> int:
        """Rebuild the store and the unfinished transactions from the log; returns this
        life's incarnation number."""
        incarnation = 0
        prepared: dict[str, JSON] = {}
        for record in self.wal.records:
            kind, txn = record["r"], record.get("txn", "")
            if isinstance(record.get("req"), dict):
                self.txns.setdefault(txn, record["req"])
            if kind == "boot":
                incarnation = record["incarnation"]
            elif kind == "p_prepared":
                prepared[txn] = record
                self.decisions[txn] = PENDING
            elif kind == "p_precommit" and txn in prepared:
                prepared[txn]["precommitted"] = True
            elif kind == "p_decide":
                self.decisions[txn] = record["d"]
                done = prepared.pop(txn, None)
                if record["d"] == COMMIT and done is not None:
                    self.apply(done["writes"])
            elif kind == "c_begin":
                self.coords[txn] = Coord(txn, record["parts"], state=PREPARED,
                                         request=record.get("req"))
                self.decisions.setdefault(txn, PENDING)
            elif kind == "c_precommit" and txn in self.coords:
                self.coords[txn].state = PRECOMMITTED
            elif kind == "c_decide":
                coord = self.coords.setdefault(txn, Coord(txn, record["parts"],
                                                          request=record.get("req")))
                coord.decision = record["d"]
                self.decisions[txn] = record["d"]
            elif kind == "c_end":
                self.coords.pop(txn, None)
            elif kind == "recovered":
                self.recovered.setdefault(txn, record["how"])
        for txn, record in prepared.items():
            part = Part(txn, record["coord"], PRECOMMITTED if record.get("precommitted")
                        else PREPARED, record["parts"],
                        {int(k): v for k, v in record["writes"]}, set(record["reads"]))
            part.since, part.recovered = time.monotonic(), True
            self.parts[txn] = part
            for key in part.writes:
                self.locks.grab(txn, key, EXCLUSIVE)
            for key in part.reads - set(part.writes):
                self.locks.grab(txn, key, SHARED)
        for coord in self.coords.values():
            if coord.decision is not None:
                self.note_recovered(coord.txn, f"logged {coord.decision}")
        undecided = [c for c in self.coords.values() if c.decision is None]
        for coord in undecided:
            if self.protocol == "2pc" or coord.state != PRECOMMITTED:
                # Presumed abort: no decision in the log means nobody was told "commit".
                coord.decision = ABORT
                self.wal.append(with_request({"r": "c_decide", "txn": coord.txn, "d": ABORT,
                                              "parts": coord.participants}, coord.request))
                self.decisions[coord.txn] = ABORT
                self.note_recovered(coord.txn, "presumed abort")
        self.in_doubt = [c for c in self.coords.values() if c.decision is None]
        if self.wal.records:
            log.info("recovered from %d log record(s): %d key(s), %d prepared, %d decision(s) "
                     "to deliver", len(self.wal.records), len(self.store), len(self.parts),
                     sum(1 for c in self.coords.values() if c.decision))
        return incarnation + 1

    def note_recovered(self, txn: str, how: str) -> None:
        """Remember (in the log too, for later lives) how a transaction this node left
        unfinished was found: the first time counts."""
        if txn not in self.recovered:
            self.recovered[txn] = how
            self.wal.append({"r": "recovered", "txn": txn, "how": how})

    def apply(self, writes: Any) -> None:
        for key, value in writes:
            self.store[int(key)] = value
            self.versions.setdefault(int(key), []).append(value)

    # -- the client side: coordinating ---------------------------------------------------

    def shard(self, key: int) -> str:
        return self.nodes[key % len(self.nodes)]

    async def on_txn(self, msg: Message) -> JSON:
        ops = parse_txn(msg.body.get("txn"))
        coord = self.begin(ops, client_request(msg))
        try:
            results = await self.execute(coord, ops)
            decision = await self.commit(coord)
        except RPCError as exc:
            await self.decide(coord, ABORT)
            code = (exc.code if exc.code in (ErrorCode.TXN_CONFLICT, ErrorCode.ABORT)
                    else ErrorCode.ABORT)
            raise RPCError(code, f"{coord.txn} aborted: {coord.reason or exc.text}") from None
        if decision != COMMIT:
            raise RPCError(ErrorCode.TXN_CONFLICT if coord.reason else ErrorCode.ABORT,
                           f"{coord.txn} aborted: {coord.reason or 'a participant voted no'}")
        return {"type": "txn_ok", "txn": results}

    def begin(self, ops: list[tuple[str, int, Any]], request: JSON | None = None) -> Coord:
        """Name a new transaction of this node's and start coordinating it; ``request``
        is the client request that started it (see ``txns`` in the module's docstring)."""
        self.next_txn += 1
        txn = f"{self.me}.{self.incarnation}.{self.next_txn}"
        coord = self.coords[txn] = Coord(txn, sorted({self.shard(k) for _, k, _ in ops}),
                                         request=request)
        self.decisions[txn] = PENDING
        if request is not None:
            self.txns[txn] = request
        return coord

    async def execute(self, coord: Coord, ops: list[tuple[str, int, Any]]
                      ) -> list[list[Any]]:
        """Have each participant run its share (taking locks); the operations with the
        values read."""
        groups: dict[str, list[list[Any]]] = {}
        for index, (f, key, value) in enumerate(ops):
            groups.setdefault(self.shard(key), []).append([index, f, key, value])
        replies = await self.gather(coord, {
            p: with_request({"type": "txn_exec", "txn": coord.txn, "ops": groups[p],
                             "coord": self.me, "parts": coord.participants,
                             "started": time.time()}, coord.request)
            for p in coord.participants}, self.lock_timeout + 1.0)
        results: list[list[Any]] = [list(op) for op in ops]
        for reply in replies.values():
            for index, value in reply["reads"]:
                results[index] = ["r", ops[index][1], value]
        return results

    async def gather(self, coord: Coord, bodies: dict[str, JSON], timeout: float
                     ) -> dict[str, JSON]:
        """Send each participant its body; all replies, or RPCError on the first failure
        (or as soon as the transaction is aborted from outside, e.g. as a victim)."""
        futures = {p: self.runtime.request(p, body, timeout) for p, body in bodies.items()}
        aborted = asyncio.ensure_future(coord.aborted.wait())
        try:
            pending: set[asyncio.Future[Any]] = set(futures.values())
            while pending:
                done, pending = await asyncio.wait(pending | {aborted},
                                                   return_when=asyncio.FIRST_COMPLETED)
                if aborted in done:
                    raise RPCError(ErrorCode.TXN_CONFLICT, coord.reason)
                pending.discard(aborted)
                for future in done:
                    future.result()  # raises the participant's error or the timeout
        finally:
            aborted.cancel()
        return {p: dict(f.result().body) for p, f in futures.items()}

    async def commit(self, coord: Coord) -> str:
        txn, participants = coord.txn, coord.participants
        if self.one_phase and len(participants) == 1:
            # One participant: no vote to collect; its prepare is the decision. If the
            # answer is lost, only the participant knows it: ask until it says.
            try:
                reply = await self.gather(coord, {participants[0]: {
                    "type": "prepare", "txn": txn, "one_phase": True}}, self.timeout)
                decision = reply[participants[0]]["vote"]
            except RPCError:
                decision = await self.resolve(txn, participants[0])
            coord.decision = decision
            self.decisions[txn] = decision
            self.coords.pop(txn, None)
            return str(decision)
        self.wal.append(with_request({"r": "c_begin", "txn": txn, "parts": participants},
                                     coord.request))
        coord.state = PREPARED
        votes = await self.gather(coord, {p: {"type": "prepare", "txn": txn}
                                          for p in participants}, self.timeout)
        if any(v["vote"] != COMMIT for v in votes.values()):
            await self.decide(coord, ABORT)
            return ABORT
        if self.protocol == "3pc":
            await self.wal.force({"r": "c_precommit", "txn": txn})
            coord.state = PRECOMMITTED
            try:
                await self.gather(coord, {p: {"type": "precommit", "txn": txn}
                                          for p in participants}, self.timeout)
            except RPCError as exc:
                # Everyone voted yes: a participant that does not acknowledge the
                # pre-commit has failed, and will learn "commit" when it is back. (This
                # is 3PC's rule, and why a partition here splits the outcome.)
                log.info("%s: pre-commit not acknowledged (%s); committing", txn, exc.text)
        await self.decide(coord, COMMIT)
        return COMMIT

    async def resolve(self, txn: str, participant: str) -> str:
        """The outcome of a one-phase commit whose answer was lost: the participant
        decides it (aborting it if the prepare never arrived)."""
        while True:
            try:
                reply = await self.runtime.rpc(participant, {"type": "resolve", "txn": txn},
                                               self.timeout)
                return str(reply.body["d"])
            except RPCError:
                await asyncio.sleep(self.retry)

    async def decide(self, coord: Coord, decision: str) -> None:
        """Force the decision, then tell the participants (retried until they ack)."""
        if coord.decision is not None:
            return
        coord.decision = decision
        self.decisions[coord.txn] = decision
        record = with_request({"r": "c_decide", "txn": coord.txn, "d": decision,
                               "parts": coord.participants}, coord.request)
        if decision == COMMIT:
            await self.wal.force(record)
        else:
            self.wal.append(record)  # presumed abort: no need to wait for the disk
        self.tell(coord)

    def tell(self, coord: Coord) -> None:
        coord.telling = True

        async def deliver() -> None:
            await self.deliver(coord)
            if coord.txn in self.coords:
                self.wal.append({"r": "c_end", "txn": coord.txn})
                del self.coords[coord.txn]

        self.runtime.spawn(deliver())

    async def deliver(self, coord: Coord) -> None:
        """Send the decision to every participant until each has acknowledged it (or the
        transaction is no longer this coordinator's)."""
        waiting = set(coord.participants)
        while waiting and coord.txn in self.coords:
            replies = await asyncio.gather(*(
                self.runtime.request(p, {"type": "decide", "txn": coord.txn,
                                         "d": coord.decision}, self.timeout)
                for p in sorted(waiting)), return_exceptions=True)
            for p, reply in zip(sorted(waiting), replies, strict=True):
                if not isinstance(reply, BaseException):
                    waiting.discard(p)
            if waiting:
                await asyncio.sleep(self.retry)

    def chase_decisions(self) -> None:
        """Deliver decisions a previous life of this node made but never delivered; ask
        coordinators about transactions this node prepared and never heard of again."""
        for coord in list(self.coords.values()):
            if coord.decision is not None and not coord.telling:
                self.tell(coord)
        now = time.monotonic()
        for part in list(self.parts.values()):
            if part.state == ACTIVE:
                # Not voted yet: free to abort alone if the coordinator has gone quiet.
                if part.waiting is None and now - part.since >= self.active_timeout:
                    part.since = now
                    self.runtime.spawn(self.check_active(part))
                continue
            if now - part.since < self.retry:
                continue
            self.blocked.setdefault(part.txn, {"since": time.time(), "until": None,
                                               "coordinator": part.coord})
            if self.protocol == "3pc" and now - part.since >= self.termination_timeout:
                self.runtime.spawn(self.terminate(part))
            elif self.protocol == "2pc" or part.coord == self.me:
                self.runtime.spawn(self.ask_decision(part))

    async def check_active(self, part: Part) -> None:
        """An executed but unprepared transaction whose coordinator went quiet: abort it
        unless the coordinator says it is still going (a participant that has not voted
        may always abort)."""
        try:
            reply = await self.runtime.rpc(part.coord, {"type": "decision_req",
                                                        "txn": part.txn}, self.timeout)
            if reply.body.get("d") == PENDING:
                return
        except RPCError:
            pass
        log.info("aborting %s: executed here, never prepared, coordinator %s quiet",
                 part.txn, part.coord)
        await self.finish(part, ABORT)

    async def recover_precommitted(self, coord: Coord) -> None:
        """3PC: this node crashed after pre-committing as coordinator. The participants
        may have terminated without it; adopt what they decided, else commit (someone
        may be pre-committed, so nobody can have aborted)."""
        while coord.decision is None:
            replies = await asyncio.gather(*(
                self.runtime.request(p, {"type": "state_req", "txn": coord.txn},
                                     self.timeout) for p in coord.participants),
                return_exceptions=True)
            states = [r.body.get("state") for r in replies if not isinstance(r, BaseException)]
            if ABORT in states or COMMIT in states or len(states) == len(coord.participants):
                decision = COMMIT if COMMIT in states or ABORT not in states else ABORT
                self.note_recovered(coord.txn, f"participants' {decision}")
                await self.decide(coord, decision)
                return
            await asyncio.sleep(self.retry)

    async def ask_decision(self, part: Part) -> None:
        try:
            reply = await self.runtime.rpc(part.coord, {"type": "decision_req",
                                                        "txn": part.txn}, self.timeout)
        except RPCError:
            return  # still unreachable: stay blocked, ask again later
        decision = reply.body.get("d")
        if decision in (COMMIT, ABORT):
            await self.finish(part, decision)

    # -- the participant side ------------------------------------------------------------

    async def on_exec(self, msg: Message) -> JSON:
        txn = msg.body["txn"]
        if self.decisions.get(txn) == ABORT:
            raise RPCError(ErrorCode.ABORT, f"{txn} was already aborted here")
        part = self.parts.setdefault(txn, Part(txn, msg.body["coord"],
                                               participants=msg.body["parts"],
                                               started=msg.body.get("started", 0.0)))
        if isinstance(msg.body.get("req"), dict):
            self.txns.setdefault(txn, msg.body["req"])
        part.since = time.monotonic()
        reads = []
        for index, f, key, value in msg.body["ops"]:
            await self.lock(part, key, EXCLUSIVE if f == "w" else SHARED)
            if f == "r":
                part.reads.add(key)
                reads.append([index, part.writes.get(key, self.store.get(key))])
            else:
                part.writes[key] = value
        self.decisions.setdefault(txn, PENDING)
        return {"type": "txn_exec_ok", "reads": reads}

    async def lock(self, part: Part, key: int, mode: str) -> None:
        """Take a lock for ``part``, waiting if need be; RPCError 30 if the transaction
        was aborted meanwhile (its locks are then already released, and stay so)."""
        self.still_running(part)
        future = self.locks.acquire(part.txn, key, mode)
        if future.done():
            return
        part.waiting = future
        self.waits += 1
        part.wait_id = f"{self.me}.{self.incarnation}.w{self.waits}"
        part.wait_since = time.time()
        try:
            await asyncio.wait_for(asyncio.shield(future), self.lock_timeout)
        except TimeoutError:
            await self.finish(part, ABORT)
            raise RPCError(ErrorCode.TXN_CONFLICT,
                           f"waited over {self.lock_timeout:g}s for key {key}") from None
        except asyncio.CancelledError:
            raise RPCError(ErrorCode.TXN_CONFLICT, f"{part.txn} was aborted while it waited "
                           f"for key {key}") from None
        finally:
            part.waiting = None
        self.still_running(part)

    def still_running(self, part: Part) -> None:
        if self.parts.get(part.txn) is not part:
            # Finished (aborted) while it waited: a lock granted at the last moment must
            # not outlive it.
            self.locks.release_all(part.txn)
            raise RPCError(ErrorCode.TXN_CONFLICT, f"{part.txn} was aborted")

    async def on_prepare(self, msg: Message) -> JSON:
        txn = msg.body["txn"]
        part = self.parts.get(txn)
        if part is None or part.state != ACTIVE:
            vote = self.decisions.get(txn, ABORT) if part is None else COMMIT
            return {"type": "vote", "txn": txn, "vote": vote if vote != PENDING else ABORT}
        record = with_request({"r": "p_prepared", "txn": txn, "coord": part.coord,
                               "parts": part.participants,
                               "writes": sorted(part.writes.items()),
                               "reads": sorted(part.reads)}, self.txns.get(txn))
        if msg.body.get("one_phase"):
            await self.wal.force(record)
            part.state = PREPARED
            await self.finish(part, COMMIT)
            return {"type": "vote", "txn": txn, "vote": COMMIT}
        await self.wal.force(record)
        part.state, part.since = PREPARED, time.monotonic()
        return {"type": "vote", "txn": txn, "vote": COMMIT}

    async def on_precommit(self, msg: Message) -> JSON:
        part = self.parts.get(msg.body["txn"])
        if part is None or part.state not in (PREPARED, PRECOMMITTED):
            raise RPCError(ErrorCode.ABORT, "not prepared here")
        if part.state == PREPARED:
            await self.wal.force({"r": "p_precommit", "txn": part.txn})
            part.state, part.since = PRECOMMITTED, time.monotonic()
        return {"type": "precommit_ok"}

    async def on_decide(self, msg: Message) -> JSON:
        txn, decision = msg.body["txn"], msg.body["d"]
        part = self.parts.get(txn)
        if part is not None:
            await self.finish(part, decision)
        elif txn not in self.decisions:
            self.decisions[txn] = decision  # never executed here: nothing to undo
        return {"type": "decide_ok"}

    async def finish(self, part: Part, decision: str) -> None:
        """Make ``decision`` this participant's outcome: durable, applied, locks freed."""
        if self.parts.get(part.txn) is not part:
            return
        del self.parts[part.txn]
        if part.state != ACTIVE or decision == COMMIT:
            record = {"r": "p_decide", "txn": part.txn, "d": decision}
            if decision == COMMIT:
                await self.wal.force(record)
                self.apply(sorted(part.writes.items()))
            else:
                self.wal.append(record)
        self.decisions[part.txn] = decision
        if part.waiting is not None and not part.waiting.done():
            part.waiting.cancel()
        self.locks.release_all(part.txn)
        if part.txn in self.blocked:
            self.blocked[part.txn]["until"] = time.time()

    async def on_resolve(self, msg: Message) -> JSON:
        """A one-phase coordinator lost our answer: say the outcome, deciding it (abort)
        if the prepare has not arrived — it never will be taken after this."""
        txn = msg.body["txn"]
        while True:
            part = self.parts.get(txn)
            if part is None:
                decision = self.decisions.get(txn, ABORT)
                if decision == PENDING:
                    decision = ABORT
                self.decisions[txn] = decision
                return {"type": "resolved", "txn": txn, "d": decision}
            if part.state == ACTIVE and part.waiting is None:
                await self.finish(part, ABORT)
            else:
                await asyncio.sleep(self.retry / 4)  # its prepare is being forced

    def on_decision_req(self, msg: Message) -> JSON:
        txn = msg.body["txn"]
        coord = self.coords.get(txn)
        if coord is not None:
            return {"type": "decision", "txn": txn, "d": coord.decision or PENDING}
        # Never heard of, or finished: a transaction this node no longer coordinates and
        # never logged a commit for was aborted (presumed abort).
        return {"type": "decision", "txn": txn, "d": self.decisions.get(txn, ABORT)
                if self.decisions.get(txn) != PENDING else ABORT}

    # -- 3PC termination -----------------------------------------------------------------

    def on_state_req(self, msg: Message) -> JSON:
        txn = msg.body["txn"]
        part = self.parts.get(txn)
        state = part.state if part is not None else self.decisions.get(txn, "unknown")
        return {"type": "state", "txn": txn, "state": state}

    async def terminate(self, part: Part) -> None:
        """The termination protocol: decide with the participants that answer. The lowest
        id among those who answer decides; the others wait for its decision. A participant
        just back from a crash does not decide alone: it learns what the others did."""
        part.since = time.monotonic()  # not again before the next timeout
        others = [p for p in part.participants if p != self.me]
        replies = await asyncio.gather(*(
            self.runtime.request(p, {"type": "state_req", "txn": part.txn}, self.timeout)
            for p in others), return_exceptions=True)
        states: dict[str, Any] = {self.me: part.state}
        for p, reply in zip(others, replies, strict=True):
            if not isinstance(reply, BaseException):
                states[p] = reply.body.get("state")
        if len(states) == 1 and others and part.recovered:
            # Back from a crash, this node hears from nobody yet. The others went on
            # without it and may well have decided (a coordinator commits when a
            # pre-commit goes unacknowledged): deciding alone could contradict them.
            # Ask the coordinator, and the others again at the next timeout.
            await self.ask_decision(part)
            return
        if min(states) != self.me or self.parts.get(part.txn) is not part:
            return
        values = set(states.values())
        decision = (COMMIT if COMMIT in values else ABORT if ABORT in values or ACTIVE in values
                    else COMMIT if PRECOMMITTED in values else ABORT)
        log.info("termination of %s: states %s -> %s", part.txn, states, decision)
        for p in others:
            if p in states:
                self.runtime.send(p, {"type": "decide", "txn": part.txn, "d": decision})
        await self.finish(part, decision)

    # -- deadlocks -----------------------------------------------------------------------

    def on_abort_txn(self, msg: Message) -> JSON:
        """The deadlock detector chose this node's transaction as a victim."""
        coord = self.coords.get(msg.body["txn"])
        if coord is not None and coord.decision is None and coord.state == ACTIVE:
            coord.reason = f"deadlock victim (cycle {' -> '.join(msg.body.get('cycle', []))})"
            self.victims.append({"txn": coord.txn, "cycle": msg.body.get("cycle", []),
                                 "t": time.time()})
            coord.aborted.set()
        return {"type": "abort_txn_ok"}

    # -- state ---------------------------------------------------------------------------

    def on_dchaos_state(self, msg: Message) -> JSON:
        return {"type": "dchaos_state_ok", "decisions": self.decisions,
                "locks": self.locks.describe(), "wal_len": len(self.wal),
                "store": {str(k): v for k, v in self.store.items()},
                "versions": {str(k): v for k, v in self.versions.items()},
                "victims": self.victims, "waits": self.locks.waits_for(),
                "blocked": self.blocked, "deadlocks": self.deadlocks.found,
                "recovered": self.recovered, "txns": self.txns,
                "protocol": self.protocol, "wal_flushes": self.wal.flushes}


def client_request(msg: Message) -> JSON | None:
    """The client request ``msg`` as the harness names it (``txns``): its sender and its
    ``msg_id``; None for a request without one (no reply is expected, no call to tie)."""
    msg_id = msg.body.get("msg_id")
    if isinstance(msg_id, bool) or not isinstance(msg_id, int):
        return None
    return {"client": msg.src, "msg_id": msg_id}


def with_request(body: JSON, request: JSON | None) -> JSON:
    """``body`` (a message or a log record) with the request that started its transaction,
    when it is known."""
    return {**body, "req": request} if request is not None else body


def parse_txn(txn: Any) -> list[tuple[str, int, Any]]:
    """A client's transaction, checked; RPCError 12 (nothing happens) if malformed."""
    if not isinstance(txn, list) or not txn:
        raise RPCError.malformed("txn must be a non-empty list of [f, key, value] operations")
    ops = []
    for number, op in enumerate(txn):
        if not isinstance(op, list) or len(op) != 3:
            raise RPCError.malformed(f"operation {number} is {op!r}, not [f, key, value]")
        f, key, value = op
        if f not in ("r", "w"):
            raise RPCError.malformed(f"operation {number}: unknown function {f!r} "
                                     "(r or w)")
        if isinstance(key, bool) or not isinstance(key, int) or key < 0:
            raise RPCError.malformed(f"operation {number}: key {key!r} is not a "
                                     "non-negative integer")
        ops.append((f, key, value))
    return ops


def main() -> int:
    return TxnNode().run()


