"""The harness's timer thread: pacing, timeouts and retransmissions all wait on it."""

from __future__ import annotations

import gc
import threading
import time
import weakref

from pytest_dchaos.cluster.timers import COARSE, Timers


def test_timers_run_in_order_of_time_not_of_scheduling() -> None:
    timers = Timers()
    ran: list[str] = []
    done = threading.Event()
    timers.call_later(0.06, lambda: (ran.append("late"), done.set()))
    timers.call_later(0.02, ran.append, "early")
    timers.call_later(0.0, ran.append, "now")
    assert done.wait(5)
    timers.close()
    assert ran == ["now", "early", "late"]


def test_a_cancelled_timer_never_runs_and_a_failing_one_stops_no_other() -> None:
    timers = Timers()
    ran: list[str] = []
    done = threading.Event()
    timers.call_later(0.01, ran.append, "cancelled").cancel()
    timers.call_later(0.02, lambda: 1 / 0)
    timers.call_later(0.03, lambda: (ran.append("after"), done.set()))
    assert done.wait(5)
    timers.close()
    assert ran == ["after"]


def test_coarse_timers_are_due_on_a_tick_and_never_early() -> None:
    timers = Timers()
    due = time.monotonic() + 0.0123
    timer = timers.call_at(due, lambda: None, coarse=True)
    assert timer.when >= due and timer.when - due < COARSE + 1e-9
    assert abs(timer.when / COARSE - round(timer.when / COARSE)) < 1e-6
    timers.close()


def test_a_callback_can_schedule_more_and_close_drops_what_is_left() -> None:
    timers = Timers()
    ran: list[int] = []
    second = threading.Event()

    def step(n: int) -> None:
        ran.append(n)
        if n == 1:
            timers.call_later(0.0, step, 2)
            timers.call_later(60, step, 3)  # never: closed first
        else:
            second.set()

    timers.call_later(0.0, step, 1)
    assert second.wait(5)
    timers.close()
    timers.call_later(0.0, step, 4)  # after close: dropped
    time.sleep(0.05)
    assert ran == [1, 2]


def test_a_cancelled_timer_lets_go_of_what_it_would_have_run_with() -> None:
    class Operation:
        pass

    timers = Timers()
    operation = Operation()
    alive = weakref.ref(operation)
    timers.call_later(60, lambda op: None, operation, coarse=True).cancel()
    del operation
    gc.collect()
    assert alive() is None  # not kept for the minute the timer waits in the heap
    timers.close()
