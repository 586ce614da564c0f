"""The stop flag: a signal abandons a stage without side effects at once, elsewhere it only asks."""

from __future__ import annotations

import signal

import pytest

from lac_batch.errors import Interrupted
from lac_batch.stopping import stop_signals


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
