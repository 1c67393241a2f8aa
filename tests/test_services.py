"""Maelstrom's services, each against the semantics Maelstrom gives it: error codes, ``cas``
and ``create_if_not_exists``, seq-kv's stale reads that never go back in time, lww-kv's lag
and convergence, lin-tso's order."""

from __future__ import annotations

import itertools
import random
import threading
from typing import Any

import pytest

from pytest_dchaos.services import (
    KEY_DOES_NOT_EXIST,
    MALFORMED_REQUEST,
    NOT_SUPPORTED,
    PRECONDITION_FAILED,
    LinKV,
    LinTSO,
    LwwKV,
    SeqKV,
    Service,
    Services,
)


def read(service: Service, src: str, key: Any = "x") -> Any:
    reply = service.handle(src, {"type": "read", "key": key})
    return reply["value"] if reply["type"] == "read_ok" else reply["code"]


def write(service: Service, src: str, value: Any, key: Any = "x") -> None:
    assert service.handle(src, {"type": "write", "key": key, "value": value}) == {
        "type": "write_ok"}


def cas(service: Service, src: str, old: Any, new: Any, key: Any = "x",
        **extra: Any) -> Any:
    reply = service.handle(src, {"type": "cas", "key": key, "from": old, "to": new, **extra})
    return reply["type"] if reply["type"] == "cas_ok" else reply["code"]


def kv_services(seed: int = 0) -> list[Service]:
    return [LinKV(), SeqKV(random.Random(seed)), LwwKV(random.Random(seed))]


# -- what every key-value service does the same way -------------------------------------

@pytest.mark.parametrize("service", kv_services(), ids=["lin-kv", "seq-kv", "lww-kv"])
def test_errors_for_a_missing_key_and_a_failed_cas(service: Service) -> None:
    assert read(service, "n1") == KEY_DOES_NOT_EXIST
    assert cas(service, "n1", 1, 2) == KEY_DOES_NOT_EXIST
    assert cas(service, "n1", None, 5, create_if_not_exists=True) == "cas_ok"
    # One replica of lww-kv may not have it yet: asking until it is there shows the value.
    assert any(read(service, "n1") == 5 for _ in range(50))


def test_lin_kv_reads_writes_and_compares_and_sets() -> None:
    kv = LinKV()
    write(kv, "n1", 1)
    assert read(kv, "n2") == 1
    assert cas(kv, "n2", 2, 3) == PRECONDITION_FAILED
    assert cas(kv, "n2", 1, 3) == "cas_ok"
    assert read(kv, "n1") == 3
    # create_if_not_exists only creates: on an existing key it is a plain cas.
    assert cas(kv, "n1", 7, 8, create_if_not_exists=True) == PRECONDITION_FAILED
    # Values compare as JSON: 3.0 is not 3, and keys may be any JSON value.
    assert cas(kv, "n1", 3.0, 4) == PRECONDITION_FAILED
    write(kv, "n1", {"a": [1, 2]}, key=[1, "k"])
    assert read(kv, "n2", key=[1, "k"]) == {"a": [1, 2]}
    assert cas(kv, "n2", {"a": [1, 2]}, "z", key=[1, "k"]) == "cas_ok"


def test_a_request_a_service_cannot_serve_is_answered_with_its_error_code() -> None:
    services = Services(seed=1)

    def ask(dest: str, body: dict[str, Any]) -> dict[str, Any]:
        reply = services.answer({"src": "n1", "dest": dest, "body": {"msg_id": 9, **body}})
        assert reply is not None
        return reply

    reply = ask("lin-kv", {"type": "append", "key": "x"})
    assert reply["src"] == "lin-kv" and reply["dest"] == "n1"
    assert reply["body"]["code"] == NOT_SUPPORTED and reply["body"]["in_reply_to"] == 9
    assert ask("seq-kv", {"type": "read"})["body"]["code"] == MALFORMED_REQUEST
    assert ask("lww-kv", {"type": "cas", "key": "x", "to": 1})["body"]["code"] == (
        MALFORMED_REQUEST)
    assert ask("lin-tso", {"type": "read", "key": "x"})["body"]["code"] == NOT_SUPPORTED
    assert ask("lin-kv", {"type": "write", "key": "x", "value": 1})["body"] == {
        "type": "write_ok", "in_reply_to": 9}
    # A node answering the service's error with an error of its own gets nothing back.
    assert services.answer({"src": "n1", "dest": "lin-kv", "body": {
        "type": "error", "code": 10, "in_reply_to": 3}}) is None


# -- seq-kv -----------------------------------------------------------------------------

def test_seq_kv_reads_may_be_stale_but_never_go_back_in_time() -> None:
    """n1 writes 0..9 (each write done before the next starts), then n2 reads: a read of
    anything but 9 is not linearizable, yet sequentially consistent as long as each of
    n2's reads is no older than its previous one. n1 always reads its own last write."""
    stale_seen = 0
    for seed in range(20):
        kv = SeqKV(random.Random(seed))
        for value in range(10):
            write(kv, "n1", value)
        seen = [read(kv, "n2") for _ in range(30)]
        assert all(isinstance(v, int) for v in seen)  # n1's first write came first
        assert seen == sorted(seen), seen  # never back in time
        stale_seen += seen[0] < 9
        assert read(kv, "n1") == 9  # its own writes, always
        write(kv, "n2", "fence", key="n2-fence")  # an update moves n2 to the newest state
        assert read(kv, "n2") == 9
    assert stale_seen >= 10  # stale reads happen (the first read picks among 10 states)


def test_seq_kv_may_order_an_update_into_the_past() -> None:
    """Maelstrom's example: n1 writes x=1, n2 cas 1→2, n1 writes x=1 again, n2 reads. A
    linearizable store must answer 1; a sequential one may also answer 2, placing n1's
    second write (which changes nothing there) before n2's cas."""
    answers = set()
    for seed in range(30):
        kv = SeqKV(random.Random(seed))
        write(kv, "n1", 1)
        if cas(kv, "n2", 1, 2) != "cas_ok":
            continue  # it acted on the state before x existed (20): not the example
        write(kv, "n1", 1)
        answers.add(read(kv, "n2"))
    assert answers == {1, 2}


def test_seq_kv_loses_no_update_made_by_cas() -> None:
    """Three callers increment one counter by read-then-cas in random interleavings: a
    stale read makes the cas fail (22) and the caller retry, but every cas_ok counts. A
    caller that writes a key of its own first then reads the true total. This is what a
    Gossip Glomers g-counter relies on."""
    for seed in range(10):
        kv = SeqKV(random.Random(seed))
        order = random.Random(seed + 100)
        cas(kv, "n1", None, 0, create_if_not_exists=True)
        succeeded = 0
        for _ in range(300):
            caller = order.choice(["n1", "n2", "n3"])
            current = read(kv, caller)
            if current == KEY_DOES_NOT_EXIST:
                continue  # n2 or n3 may read a state before the counter existed
            outcome = cas(kv, caller, current, current + 1)
            assert outcome in ("cas_ok", PRECONDITION_FAILED)
            succeeded += outcome == "cas_ok"
        write(kv, "n3", 1, key="n3-fence")
        assert read(kv, "n3") == succeeded > 10


def test_seq_kv_answers_from_no_state_older_than_its_window() -> None:
    kv = SeqKV(random.Random(3), window=4)
    for value in range(100):
        write(kv, "n1", value)
    assert all(read(kv, f"c{i}") >= 96 for i in range(200))


def test_seq_kv_is_reproducible_from_its_seed() -> None:
    def replay(seed: int) -> list[Any]:
        kv = SeqKV(random.Random(seed))
        answers = []
        for value in range(20):
            write(kv, "n1", value)
            answers.append(read(kv, "n2"))
        return answers

    assert replay(5) == replay(5)
    assert replay(5) != replay(6)


# -- lww-kv -----------------------------------------------------------------------------

def test_lww_kv_lags_behind_writes_then_converges() -> None:
    """A reader (even the writer) may miss a completed write, as no replica waits for the
    others; once writes stop, the replicas merge and every read gives the same value. It
    is the write with the highest Lamport stamp, which need not be the last one: a replica
    that took fewer writes stamps lower (Maelstrom's pathology, kept)."""
    missed = 0
    settled = set()
    for seed in range(20):
        kv = LwwKV(random.Random(seed))
        for value in range(5):
            write(kv, "n1", value)
            missed += read(kv, "n1") != value
        for _ in range(40):
            read(kv, "n2")
        final = {read(kv, n) for n in ("n1", "n2", "n3") for _ in range(5)}
        assert len(final) == 1 and final <= set(range(5))
        settled |= final
    assert missed > 0
    assert 4 in settled and len(settled) > 1


def test_lww_kv_loses_concurrent_updates() -> None:
    """Two callers each cas the counter up from what they read: on different replicas both
    succeed from the same value, and the merge keeps one. lin-kv never does that."""
    lost = 0
    for seed in range(20):
        kv = LwwKV(random.Random(seed))
        write(kv, "n1", 0)
        for _ in range(10):
            read(kv, "n9")  # let the replicas converge on 0
        succeeded = sum(cas(kv, caller, 0, 1) == "cas_ok" for caller in ("n1", "n2"))
        lost += succeeded == 2
    assert lost > 0


# -- lin-tso ----------------------------------------------------------------------------

def test_lin_tso_hands_out_strictly_increasing_timestamps_under_concurrency() -> None:
    tso = LinTSO()
    got: dict[int, list[int]] = {}

    def take(caller: int) -> None:
        got[caller] = [tso.handle(f"n{caller}", {"type": "ts"})["ts"] for _ in range(300)]

    threads = [threading.Thread(target=take, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for stamps in got.values():
        assert all(a < b for a, b in itertools.pairwise(stamps))
    assert sorted(s for stamps in got.values() for s in stamps) == list(range(1200))


# -- the harness's side -----------------------------------------------------------------

def test_answers_take_two_latency_draws_as_in_maelstrom() -> None:
    services = Services(seed=0)
    assert services.delay() == 0.0
    services.set_latency(0.05, 0.01)
    delays = [services.delay() for _ in range(200)]
    assert min(delays) >= 0.08
    assert max(delays) <= 0.12
    assert len(set(delays)) > 100
