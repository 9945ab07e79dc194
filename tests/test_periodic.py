"""The background-loop thread: survives a failing tick, stops cleanly, closes what it used."""

from __future__ import annotations

import logging
import threading
import time

import pytest

from powerflow.periodic import PeriodicThread


def test_a_failing_tick_does_not_end_the_loop_and_stop_runs_the_cleanup() -> None:
    calls: list[str] = []
    again = threading.Event()

    def tick() -> None:
        calls.append("tick")
        if len(calls) == 1:
            raise RuntimeError("first tick fails")
        again.set()

    loop = PeriodicThread("test-loop", 0.01, tick, on_stop=lambda: calls.append("closed"))
    loop.start()
    assert again.wait(5), calls
    loop.stop()
    assert calls[-1] == "closed"
    ticks = calls.count("tick")
    time.sleep(0.05)
    assert calls.count("tick") == ticks  # nothing runs after stop


def test_last_tick_on_stop_runs_once_more_when_stopped() -> None:
    ticks: list[float] = []
    loop = PeriodicThread("test-final", 3600, lambda: ticks.append(1), last_tick_on_stop=True)
    loop.start()
    loop.stop()  # long before the first interval ends
    assert ticks == [1]
    plain = PeriodicThread("test-plain", 3600, lambda: ticks.append(2))
    plain.start()
    plain.stop()
    assert ticks == [1]


def test_a_failing_tick_is_one_log_line_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    failed = threading.Event()

    def tick() -> None:
        failed.set()
        raise RuntimeError("database\n  is down")

    with caplog.at_level(logging.INFO, logger="powerflow.periodic"):
        loop = PeriodicThread("test-failing", 0.01, tick)
        loop.start()
        assert failed.wait(5)
        time.sleep(0.05)
        loop.stop()
    records = [r for r in caplog.records if r.name == "powerflow.periodic"]
    assert records and not any(r.exc_info for r in records)
    assert "\n" not in records[0].getMessage()
    assert "RuntimeError: database is down" in records[0].getMessage()


def test_a_staggered_loop_ticks_first_after_its_fraction_of_the_interval() -> None:
    """Loops started together take turns: the first tick of a staggered one comes after its
    fraction of the interval, and the next ones a whole interval apart."""
    ticks: list[float] = []
    done = threading.Event()

    def tick() -> None:
        ticks.append(time.monotonic())
        if len(ticks) == 2:
            done.set()

    loop = PeriodicThread("test-staggered", 0.6, tick)
    loop.stagger(0.25)
    started = time.monotonic()
    loop.start()
    try:
        assert done.wait(10), ticks
    finally:
        loop.stop()
    first, second = ticks[0] - started, ticks[1] - ticks[0]
    assert 0.15 <= first < 0.45, first  # not a whole interval, as an unstaggered loop waits
    assert second >= 0.6, second
