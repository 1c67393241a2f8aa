"""The conformance kit: does a node keep the node contract? (docs/conformance.md)

:func:`check_conformance` starts a family's node(s) — yours, by their command, or the
reference ones — on the in-memory :class:`~pytest_dchaos.testing.router.Router`, speaks to
them as the harness would, and returns a :class:`ConformanceReport`: one
:class:`~pytest_dchaos.families.conformance.Finding` per check, PASS, FAIL or N/A, each
failure with what was sent, what came back, why it is wrong and which section of the
documentation to read. :func:`assert_conforms` raises AssertionError listing the failures,
for a test suite; ``dchaos conform`` prints the report.

What every node owes, checked here: ``init`` → ``init_ok`` naming the ``init``'s
``msg_id``; a well-formed ``dchaos.extensions`` list in ``init_ok`` if any; each listed
extension answered in its documented shape (an extension a node does not list is never
sent, and its check is not applicable); a message type it does not know answered with
error 10 or ignored; replies whose ``in_reply_to`` names a request the node got, from the
client they go to; integer ``msg_id`` s; ``src`` its own id; error bodies with Maelstrom's
codes; nothing but JSON messages on stdout; still running at the end. The family adds its
client messages (:meth:`ProtocolFamily.conformance`).

Real node processes, no fault layer; every wait is bounded by ``timeout``, and every
process is stopped before it returns.
"""

from __future__ import annotations

import shlex
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_dchaos.backends.local.backend import check_command, node_environment, this_python
from pytest_dchaos.cluster.extensions import EXTENSIONS
from pytest_dchaos.errors import DchaosError
from pytest_dchaos.families.base import ProtocolFamily
from pytest_dchaos.families.conformance import (
    FAIL,
    NOT_APPLICABLE,
    PASS,
    Conformance,
    Exchange,
    Extension,
    Finding,
    Outcome,
    excerpt,
    failed,
    is_int,
    not_applicable,
    passed,
    reply_problem,
)
from pytest_dchaos.registry import Registry
from pytest_dchaos.scenario.model import ClusterSpec
from pytest_dchaos.scenario.schema import suggest
from pytest_dchaos.services import is_service
from pytest_dchaos.testing.commands import command_words, node_ids
from pytest_dchaos.testing.router import JSON, Call, Router

INIT_DOC = "docs/node-contract.md#what-the-harness-sends"
MESSAGES_DOC = "docs/node-contract.md#messages"
RULES_DOC = "docs/node-contract.md#rules-a-node-must-keep"
EXTENSIONS_DOC = "docs/node-contract.md#extensions-opt-in"
#: A type no protocol here defines: the node cannot know it.
UNKNOWN_TYPE = "dchaos_conform_unknown"
#: How long a node that ignores an unknown type is given to show it did not crash.
UNKNOWN_WAIT = 2.0
MAELSTROM_CODES = frozenset({0, 1, 10, 11, 12, 13, 14, 20, 21, 22, 30})
FIRST_USER_CODE = 1000
#: How long the harness waits for ``init_ok`` unless a scenario says otherwise.
INIT_TIMEOUT: float = ClusterSpec.start_timeout
STDERR_LINES = 8
POLL = 0.05


@dataclass(frozen=True)
class ConformanceReport:
    """What a conformance check found, one finding per check, in the order run."""

    protocol: str
    command: tuple[str, ...]
    node_ids: tuple[str, ...]
    findings: tuple[Finding, ...]
    #: The nodes' folders, each with its ``stderr.log``.
    log_dir: Path
    #: Per node, the type of every request the kit sent it, in order.
    sent: Mapping[str, tuple[str, ...]]

    @property
    def conforms(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[Finding]:
        return [f for f in self.findings if f.failed]

    def finding(self, check: str) -> Finding:
        """The finding of the check named ``check`` (KeyError if there is none)."""
        for finding in self.findings:
            if finding.check == check:
                return finding
        raise KeyError(check)

    def text(self, *, logs: bool = True) -> str:
        """The report for a person: a line per check, what failed, the verdict and (with
        ``logs``) where the nodes' logs are."""
        counts = {s: sum(f.status == s for f in self.findings)
                  for s in (PASS, FAIL, NOT_APPLICABLE)}
        lines = [f"dchaos conform: {self.protocol}, {len(self.node_ids)} node(s): "
                 f"{shlex.join(self.command)}"]
        lines += ["  " + f.describe().replace("\n", "\n  ") for f in self.findings]
        verdict = "CONFORMS" if self.conforms else "DOES NOT CONFORM"
        lines.append(f"{verdict}: {counts[PASS]} passed, {counts[FAIL]} failed, "
                     f"{counts[NOT_APPLICABLE]} not applicable")
        if logs:
            lines.append(f"  node logs: {self.log_dir}")
        return "\n".join(lines)


def assert_conforms(protocol: str, command: str | Sequence[str] | None = None,
                    **options: Any) -> ConformanceReport:
    """:func:`check_conformance`, raising AssertionError with the report when a check
    failed; returns the report otherwise."""
    __tracebackhide__ = True  # pytest shows the failure at the caller's line
    report = check_conformance(protocol, command, **options)
    if not report.conforms:
        raise AssertionError(report.text())
    return report


def check_conformance(protocol: str, command: str | Sequence[str] | None = None, *,
                      nodes: int | None = None, timeout: float = 5.0,
                      init_timeout: float = INIT_TIMEOUT, log_dir: Path | str | None = None,
                      registry: Registry | None = None) -> ConformanceReport:
    """Check ``command`` (a string as a shell would split it, or a list of words; relative
    paths from the current folder; default: the family's reference node) as a node of
    ``protocol`` on ``nodes`` nodes (default: the family's choice). ``init_timeout``
    bounds the wait for ``init_ok`` (the harness's default start timeout: a node may be
    slow to start), ``timeout`` every other wait for a reply. The nodes' folders go into a
    new folder under ``log_dir`` (default: a new temporary folder, left for you to read).

    Raises :class:`~pytest_dchaos.errors.DchaosError` when the check cannot run at all (an
    unknown protocol, a command that does not exist or cannot start).
    """
    if min(timeout, init_timeout) <= 0:
        raise DchaosError(f"timeouts must be positive numbers of seconds, not {timeout} and "
                          f"{init_timeout}")
    registry = registry or Registry()
    family = registry.protocol(protocol)
    if family is None:
        hint = suggest(protocol, registry.protocol_names())
        raise DchaosError(f"unknown protocol {protocol!r}" + (f" ({hint})" if hint else "")
                          + f"; installed: {', '.join(registry.protocol_names())}")
    conformance = family.conformance()
    if conformance is None:
        raise DchaosError(f"the {protocol} family defines no conformance checks")
    words = _command(family, command)
    count = conformance.nodes if nodes is None else nodes
    if count < 1:
        raise DchaosError(f"a conformance check needs at least one node, not {count}")
    ids = tuple(node_ids(count))
    folder = _log_folder(log_dir, protocol)
    transcript = Transcript()
    router = Router(ids, words, log_dir=folder, env=node_environment(),
                    init_extra=lambda node: conformance.init_extra(node, ids),
                    on_message=transcript.observe, init_timeout=init_timeout)
    session = LiveSession(router, transcript, timeout)
    try:
        try:
            router.start(setup=False)
        except OSError as exc:
            raise DchaosError(f"cannot start the node command {shlex.join(words)}: {exc}"
                              ) from None
        findings = tuple(_checks(session, conformance, protocol))
    finally:
        router.close()
    sent = {n: tuple(r.type for r in session.asked.values() if r.node == n) for n in ids}
    return ConformanceReport(protocol, words, ids, findings, folder, sent)


def _command(family: ProtocolFamily, command: str | Sequence[str] | None) -> tuple[str, ...]:
    if command is None:
        return this_python(family.reference_command())
    try:
        words = command_words(command, Path.cwd())
    except ValueError as exc:
        raise DchaosError(f"cannot split the node command {command!r}: {exc}") from None
    check_command(words, relative="are from the current folder")
    return words


def _log_folder(log_dir: Path | str | None, protocol: str) -> Path:
    # Always a new folder: a node that keeps a log in its folder would otherwise start
    # from an earlier check's state.
    if log_dir is not None:
        Path(log_dir).mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"dchaos-conform-{protocol}-",
                                 dir=None if log_dir is None else str(log_dir)))


class Transcript:
    """Every message the nodes wrote, in order, as the router saw them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._written: list[tuple[str, JSON]] = []

    def observe(self, node: str, message: JSON) -> None:
        with self._lock:
            self._written.append((node, message))

    def __len__(self) -> int:
        with self._lock:
            return len(self._written)

    def written(self) -> list[tuple[str, JSON]]:
        with self._lock:
            return list(self._written)


@dataclass(frozen=True)
class Request:
    """A request the kit sent: from which client, to which node, of what type, and how
    many messages the nodes had written before it."""

    client: str
    node: str
    type: str
    written_before: int


class LiveSession:
    """The :class:`~pytest_dchaos.families.conformance.Session` a family's checks get:
    requests to live nodes, each remembered (``asked``) for the checks of the replies."""

    def __init__(self, router: Router, transcript: Transcript, timeout: float) -> None:
        self.router = router
        self.transcript = transcript
        self._timeout = timeout
        #: msg_id → the request sent with it.
        self.asked: dict[int, Request] = {}

    @property
    def node_ids(self) -> tuple[str, ...]:
        return tuple(self.router.node_ids)

    @property
    def timeout(self) -> float:
        return self._timeout

    def ask(self, node: str, body: Mapping[str, Any], *, timeout: float | None = None,
            src: str = "c1") -> Exchange:
        return self.ask_each({node: body}, timeout=timeout, src=src)[0]

    def ask_all(self, body: Mapping[str, Any], *, timeout: float | None = None,
                src: str = "c1") -> list[Exchange]:
        return self.ask_each(dict.fromkeys(self.node_ids, body), timeout=timeout, src=src)

    def ask_each(self, bodies: Mapping[str, Mapping[str, Any]], *,
                 timeout: float | None = None, src: str = "c1") -> list[Exchange]:
        """Send each node its body at once; wait until each answered, exited, or the
        timeout passed."""
        calls: dict[str, Call] = {}
        for node, body in bodies.items():
            # Taken before sending: the reply may be written before send() returns.
            written = len(self.transcript)
            call = self.router.send(node, body, src=src)
            self.asked[call.msg_id] = Request(src, node, str(body.get("type")), written)
            calls[node] = call
        deadline = time.monotonic() + (self._timeout if timeout is None else timeout)
        waiting = dict(calls)
        while waiting and time.monotonic() < deadline:
            for node, call in list(waiting.items()):
                if call.wait(0) is not None or not self.router.alive(node):
                    del waiting[node]
            if waiting:
                next(iter(waiting.values())).wait(min(POLL, deadline - time.monotonic()))
        exchanges = []
        for node, call in calls.items():
            reply = call.wait(0)
            call.abandon()
            seconds = (call.replied_at or time.monotonic()) - call.sent_at
            exchanges.append(Exchange(node, call.message["body"],
                                      None if reply is None else dict(reply["body"]),
                                      seconds, self.router.returncode(node)))
        return exchanges

    def request(self, msg_id: Any) -> Request | None:
        """The request ``msg_id`` names, if the kit sent one with it."""
        return self.asked.get(msg_id) if is_int(msg_id) else None

    def stderr_tail(self, node: str) -> tuple[str, ...]:
        """The last lines the node wrote to stderr, with where the rest is."""
        lines = self.router.log(node).splitlines()[-STDERR_LINES:]
        path = self.router.folder(node) / "stderr.log"
        return (f"last lines of {path}:", *(f"  {line}" for line in lines)) if lines \
            else (f"nothing on stderr ({path})",)


# -- the checks, in order ------------------------------------------------------------------


def _checks(session: LiveSession, conformance: Conformance, protocol: str
            ) -> Iterator[Finding]:
    init, exchanges = _init(session)
    yield init
    claims, claimed = _claims(exchanges)
    yield claimed
    extensions = conformance.extensions()
    if init.failed:
        skipped = not_applicable("not run: init failed")
        for check in conformance.checks():
            yield Finding.of(check.name, check.doc, skipped)
        for name in EXTENSIONS:
            yield Finding.of(name, _extension_doc(extensions.get(name)), skipped)
        yield Finding.of("unknown type", RULES_DOC, skipped)
    else:
        for check in conformance.checks():
            yield Finding.of(check.name, check.doc, check.run(session))
        for name in EXTENSIONS:
            yield Finding.of(name, _extension_doc(extensions.get(name)),
                             _extension(session, name, extensions.get(name), claims,
                                        protocol))
        yield _unknown_type(session)
    written = session.transcript.written()
    yield Finding.of("in_reply_to", MESSAGES_DOC, _in_reply_to(session, written))
    yield Finding.of("msg_id", MESSAGES_DOC, _msg_ids(session, written))
    yield Finding.of("src", RULES_DOC, _sources(written))
    yield Finding.of("errors", MESSAGES_DOC, _errors(session, written))
    yield Finding.of("stdout", RULES_DOC, _stdout(session, written))
    yield Finding.of("running", RULES_DOC, _running(session))


def _init(session: LiveSession) -> tuple[Finding, list[Exchange]]:
    router = session.router
    exchanges = session.ask_each({n: router.init_body(n) for n in session.node_ids},
                                 timeout=router.init_timeout, src="c0")
    for exchange in exchanges:
        problem = reply_problem(exchange, "init_ok")
        if problem is not None:
            if exchange.reply is None:
                problem += _unanswered(session, exchange)
            outcome = Outcome(FAIL, problem, exchange.sent, exchange.reply,
                              session.stderr_tail(exchange.node))
            return Finding.of("init", INIT_DOC, outcome), exchanges
    slowest = max(e.seconds for e in exchanges)
    return Finding.of("init", INIT_DOC, passed(
        f"{', '.join(session.node_ids)} answered init_ok naming the init's msg_id "
        f"(slowest {slowest * 1000:.0f} ms)")), exchanges


def _unanswered(session: LiveSession, exchange: Exchange) -> str:
    """Why there was no reply, as far as the node's output tells."""
    msg_id = exchange.sent.get("msg_id")
    wrote = [m for n, m in session.transcript.written() if n == exchange.node]
    if wrote:
        return (f"; it wrote {excerpt(wrote[0], 160)}, which does not answer the init "
                f"(in_reply_to must be {msg_id})")
    bad = [line for n, line in session.router.bad_output if n == exchange.node]
    if bad:
        return f"; it printed {excerpt(bad[0].decode(errors='replace').strip(), 120)}"
    return "; it wrote nothing to stdout"


def _claims(exchanges: Sequence[Exchange]) -> tuple[dict[str, tuple[str, ...]], Finding]:
    """The extensions each node lists in ``init_ok``, and whether the lists are valid."""
    claims: dict[str, tuple[str, ...]] = {}
    for exchange in exchanges:
        reply = exchange.reply
        if reply is None or reply.get("type") != "init_ok":
            continue
        dchaos = reply.get("dchaos")
        listed = dchaos.get("extensions", []) if isinstance(dchaos, dict) else None
        if dchaos is not None and (not isinstance(listed, list) or not all(
                isinstance(e, str) for e in listed)):
            return claims, Finding.of("extensions", EXTENSIONS_DOC, failed(
                f"{exchange.node}'s init_ok has dchaos {excerpt(dchaos, 120)}: it must be "
                "an object whose 'extensions' is a list of message types", exchange))
        unknown = [e for e in listed or [] if e not in EXTENSIONS]
        if unknown:
            return claims, Finding.of("extensions", EXTENSIONS_DOC, failed(
                f"{exchange.node}'s init_ok lists {', '.join(map(repr, unknown))}, which "
                f"is no extension (known: {', '.join(EXTENSIONS)})", exchange))
        claims[exchange.node] = tuple(listed or ())
    if not claims:
        return claims, Finding.of("extensions", EXTENSIONS_DOC,
                                  not_applicable("no init_ok to read them from"))
    groups: dict[tuple[str, ...], list[str]] = {}
    for node, listed in claims.items():
        groups.setdefault(listed, []).append(node)
    if groups.keys() == {()}:
        return claims, Finding.of("extensions", EXTENSIONS_DOC, passed(
            "no node lists an extension (a plain Maelstrom node): none will be sent"))
    said = "; ".join(f"{', '.join(nodes)}: {', '.join(listed) or 'none'}"
                     for listed, nodes in groups.items())
    return claims, Finding.of("extensions", EXTENSIONS_DOC, passed(f"listed in init_ok: {said}"))


def _extension_doc(extension: Extension | None) -> str:
    return extension.doc if extension is not None else EXTENSIONS_DOC


def _extension(session: LiveSession, name: str, extension: Extension | None,
               claims: Mapping[str, tuple[str, ...]], protocol: str) -> Outcome:
    claimers = [n for n in session.node_ids if name in claims.get(n, ())]
    if not claimers:
        return not_applicable(f"no node lists {name} in init_ok, so none was sent it")
    if extension is None:
        return not_applicable(f"{', '.join(claimers)} list {name}, but the {protocol} family "
                              "never sends it")
    exchanges = session.ask_each(dict.fromkeys(claimers, extension.request), src="c0")
    for exchange in exchanges:
        problem = reply_problem(exchange, extension.reply_type,
                                lambda body: extension.problems(body, session.node_ids))
        if problem is not None:
            return failed(f"{problem} (it lists {name} in init_ok)", exchange)
    return passed(f"{', '.join(claimers)} answered {extension.reply_type}")


def _unknown_type(session: LiveSession) -> Finding:
    before = len(session.router.bad_output)
    exchanges = session.ask_all({"type": UNKNOWN_TYPE},
                                timeout=min(session.timeout, UNKNOWN_WAIT))
    garbage = session.router.bad_output[before:]
    said = []
    for exchange in exchanges:
        node = exchange.node
        if exchange.exit_status is not None:
            return Finding(
                "unknown type", FAIL, f"{node} exited (status {exchange.exit_status}) on a "
                f"message of a type it does not know; answer error 10, or ignore it",
                RULES_DOC, exchange.sent, exchange.reply, session.stderr_tail(node))
        printed = [line for n, line in garbage if n == node]
        if printed:
            return Finding(
                "unknown type", FAIL, f"{node} printed a line that is no JSON message on "
                f"a message of a type it does not know: log to stderr",
                RULES_DOC, exchange.sent, printed[0].decode(errors="replace").rstrip())
        if exchange.reply is not None and exchange.error_code != 10:
            return Finding.of("unknown type", RULES_DOC, failed(
                f"{node} answered a type it does not know with "
                f"{_describe_reply(exchange.reply)}: the answer is error 10 (not supported), "
                "or none", exchange))
        said.append(f"{node} {'ignored it' if exchange.reply is None else 'answered error 10'}")
    return Finding.of("unknown type", RULES_DOC, passed("; ".join(said)))


def _describe_reply(reply: Mapping[str, Any]) -> str:
    if reply.get("type") == "error":
        return f"error {reply.get('code')!r}"
    return repr(reply.get("type"))


def _to_client(session: LiveSession, written: Sequence[tuple[str, JSON]]
               ) -> Iterator[tuple[int, tuple[str, JSON]]]:
    """The messages written to clients, with their places in the transcript (not those to
    Maelstrom's services: requests, which the router answers)."""
    nodes = set(session.node_ids)
    return ((i, (node, m)) for i, (node, m) in enumerate(written)
            if m["dest"] not in nodes and not is_service(m["dest"]))


def _in_reply_to(session: LiveSession, written: Sequence[tuple[str, JSON]]) -> Outcome:
    replies = 0
    for index, (node, message) in _to_client(session, written):
        body, client = message["body"], message["dest"]
        reply_to = body.get("in_reply_to")
        kind = body["type"]
        if reply_to is None:
            return Outcome(FAIL, f"{node} sent {kind} to {client} without in_reply_to: a "
                           "client only gets replies, each naming its request", got=message)
        if not is_int(reply_to):
            return Outcome(FAIL, f"{node} sent {kind} to {client} with in_reply_to "
                           f"{reply_to!r}: it must be the request's integer msg_id",
                           got=message)
        asked = session.request(reply_to)
        if asked is None or asked.node != node or asked.written_before > index:
            named = "no request" if asked is None else f"a request to {asked.node}" \
                if asked.node != node else "a request sent to it only later"
            before = sorted(i for i, r in session.asked.items()
                            if r.node == node and r.written_before <= index)
            return Outcome(FAIL, f"{node} sent {kind} to {client} with in_reply_to "
                           f"{reply_to}, which names {named}; {node} had been sent "
                           f"msg_id {_ids(before)}", got=message)
        if asked.client != client:
            return Outcome(FAIL, f"{node} answered {asked.client}'s {asked.type} (msg_id "
                           f"{reply_to}) but sent the reply to {client}", got=message)
        replies += 1
    return passed(f"all {replies} replies name a request their node got, and go to its "
                  "client")


def _ids(ids: Sequence[int]) -> str:
    """The last few of ``ids``, the ones a wrong in_reply_to is most likely about."""
    if not ids:
        return "none"
    return ("..., " if len(ids) > 8 else "") + ", ".join(map(str, ids[-8:]))


def _msg_ids(session: LiveSession, written: Sequence[tuple[str, JSON]]) -> Outcome:
    seen: set[tuple[str, int]] = set()
    nodes = set(session.node_ids)
    for node, message in written:
        msg_id = message["body"].get("msg_id")
        if msg_id is None:
            continue
        if not is_int(msg_id):
            return Outcome(FAIL, f"{node} sent {message['body']['type']} with msg_id "
                           f"{msg_id!r}: it must be an integer", got=message)
        # Only replies are compared: between nodes a msg_id may repeat on purpose (a
        # retransmission keeps it), and a node may number its own messages apart.
        if message["dest"] in nodes or is_service(message["dest"]):
            continue
        if (node, msg_id) in seen:
            return Outcome(FAIL, f"{node} used msg_id {msg_id} for two replies: a msg_id "
                           "is unique per sender", got=message)
        seen.add((node, msg_id))
    return passed(f"every msg_id of {len(written)} messages is an integer, none reused in "
                  "replies")


def _sources(written: Sequence[tuple[str, JSON]]) -> Outcome:
    for node, message in written:
        if message.get("src") != node:
            return Outcome(FAIL, f"{node} wrote a message with src {message.get('src')!r}: a "
                           "node speaks as itself (its agent drops anything else)",
                           got=message)
    return passed(f"all {len(written)} messages have their node as src")


def _errors(session: LiveSession, written: Sequence[tuple[str, JSON]]) -> Outcome:
    count = 0
    for node, message in written:
        body = message["body"]
        if body["type"] != "error":
            continue
        count += 1
        code, text = body.get("code"), body.get("text")
        answering = session.request(body.get("in_reply_to"))
        what = f"{node}'s error" + (f" answering {answering.type}" if answering else "")
        if not is_int(code) or (code not in MAELSTROM_CODES and code < FIRST_USER_CODE):
            return Outcome(FAIL, f"{what} has code {code!r}: it must be one of Maelstrom's "
                           f"codes ({', '.join(map(str, sorted(MAELSTROM_CODES)))}) or "
                           f"{FIRST_USER_CODE} and above", got=message)
        if text is not None and not isinstance(text, str):
            return Outcome(FAIL, f"{what} has text {text!r}: it must be a string",
                           got=message)
        if body.get("in_reply_to") is None:
            return Outcome(FAIL, f"{what} has no in_reply_to: an error answers a request",
                           got=message)
    if not count:
        return passed("no error was sent")
    return passed(f"{count} error(s), each with a Maelstrom code and in_reply_to")


def _stdout(session: LiveSession, written: Sequence[tuple[str, JSON]]) -> Outcome:
    bad = session.router.bad_output
    if bad:
        node, line = bad[0]
        nodes = ", ".join(sorted({n for n, _ in bad}))
        return Outcome(FAIL, f"{len(bad)} line(s) on stdout are no JSON message (from "
                       f"{nodes}; {node}'s first below): stdout carries messages only, log "
                       "to stderr", got=line.decode(errors="replace").rstrip())
    return passed(f"{len(written)} lines, each a JSON message")


def _running(session: LiveSession) -> Outcome:
    for node in session.node_ids:
        status = session.router.returncode(node)
        if status is not None:
            return Outcome(FAIL, f"{node} exited (status {status}) during the check: a node "
                           "exits only when told", evidence=session.stderr_tail(node))
    return passed(f"{', '.join(session.node_ids)} still running at the end")

