"""The stop flag: a signal abandons a stage without side effects at once, elsewhere it only asks."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time

import pytest

from lac_batch.model.errors import Interrupted
from lac_batch.model.stopping import abandonable, stop_signals

ENDLESS_QUERY = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
)
"""A C call that never looks at signals (as a workbook library parsing a sheet does not)."""


def test_a_signal_during_a_stage_without_side_effects_abandons_it_at_once() -> None:
    steps = 0
    with stop_signals() as stop, pytest.raises(Interrupted), stop.promptly():
        for steps in range(1, 1_000):
            if steps == 10:
                signal.raise_signal(signal.SIGTERM)
    assert steps == 10


def test_a_signal_elsewhere_only_asks_and_the_next_stage_does_not_start() -> None:
    with stop_signals() as stop:
        signal.raise_signal(signal.SIGTERM)
        assert stop.is_set() and stop.received == 1
        with pytest.raises(Interrupted), stop.promptly():
            pytest.fail("a stage started after the stop was asked for")


def test_listeners_hear_every_signal_and_a_later_one_never_unwinds_again() -> None:
    heard: list[int] = []
    with stop_signals() as stop, stop.listening(heard.append):
        with pytest.raises(Interrupted), stop.promptly():
            signal.raise_signal(signal.SIGINT)
            pytest.fail("not abandoned")
        signal.raise_signal(signal.SIGINT)  # while cleaning up: must not raise
    assert heard == [1, 2]


def test_the_previous_handlers_come_back_and_nested_use_shares_one_flag() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with stop_signals() as outer:
        with stop_signals() as inner:
            assert inner is outer
        assert signal.getsignal(signal.SIGTERM) is not before
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_stop_abandons_a_long_library_call_at_once() -> None:
    database = sqlite3.connect(":memory:", check_same_thread=False)
    started, ended, gave_up = threading.Event(), threading.Event(), threading.Event()

    def long_call() -> object:
        started.set()
        try:
            return database.execute(ENDLESS_QUERY).fetchone()
        finally:
            ended.set()

    def signal_once_started() -> None:
        started.wait(20)
        signal.raise_signal(signal.SIGTERM)

    def give_up() -> None:  # bounds the test if nothing abandons the call
        gave_up.set()
        database.interrupt()

    watchdog = threading.Timer(20, give_up)
    watchdog.start()
    threading.Thread(target=signal_once_started, daemon=True).start()
    try:
        with stop_signals() as stop, pytest.raises(Interrupted), stop.promptly():
            abandonable(long_call)
    finally:
        watchdog.cancel()
    assert not gave_up.is_set(), "the stop waited until the call was ended 20 s later"
    assert not ended.is_set()
    # The abandoned call, still running, ends now. An interrupt reaches only a statement that
    # is running, and under load the thread may not have begun it yet: repeat until it ends.
    deadline = time.monotonic() + 20
    while not ended.wait(0.1):
        assert time.monotonic() < deadline, "the abandoned call never ended"
        database.interrupt()


def test_an_abandonable_call_gives_its_result_or_its_error() -> None:
    with stop_signals() as stop, stop.promptly():
        assert abandonable(sum, [1, 2, 3]) == 6
        with pytest.raises(ZeroDivisionError):
            abandonable(divmod, 1, 0)
