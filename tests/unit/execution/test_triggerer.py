"""The scheduler's trigger loop (scheduler/triggerer.py) with the built-in triggers: what fires, what
times out, what breaks, and what is cancelled, each reported once with the scheduler woken."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from orchestrator.core.sensors import TriggerWaitSpec
from orchestrator.execution.async_triggers import FileTrigger, TimeTrigger, TriggerContext
from orchestrator.plugins.manager import load_plugins
from orchestrator.store.runs import RunKey
from scheduler.triggerer import Fired, Triggerer, WatchKey

KEY = WatchKey(RunKey("d", "r"), "wait", 1)


@pytest.fixture
def loop() -> Iterator[tuple[Triggerer, threading.Event]]:
    woken = threading.Event()
    triggerer = Triggerer({"time": TimeTrigger, "file": FileTrigger}, wake=woken.set)
    triggerer.start()
    try:
        yield triggerer, woken
    finally:
        triggerer.close()


def context() -> TriggerContext:
    return TriggerContext("d", "r", "wait", datetime.now(UTC))


def fired_once(triggerer: Triggerer, woken: threading.Event) -> Fired:
    assert woken.wait(10), "the scheduler was never woken"
    (fired,) = triggerer.take_fired()
    return fired


def test_a_time_trigger_fires_at_its_moment(loop: tuple[Triggerer, threading.Event]) -> None:
    triggerer, woken = loop
    moment = (datetime.now(UTC) + timedelta(seconds=0.2)).isoformat()
    triggerer.watch(KEY, TriggerWaitSpec(trigger="time", args={"moment": moment}), context(), datetime.now(UTC) + timedelta(seconds=30))
    fired = fired_once(triggerer, woken)
    assert (fired.key, fired.payload, fired.timed_out, fired.error) == (KEY, moment, False, None)
    assert fired.at >= datetime.fromisoformat(moment)
    assert triggerer.watched() == []


def test_a_file_trigger_fires_once_the_file_is_there(loop: tuple[Triggerer, threading.Event], tmp_path: Path) -> None:
    triggerer, woken = loop
    path = tmp_path / "landed.csv"
    spec = TriggerWaitSpec(trigger="file", args={"path": str(tmp_path / "*.csv"), "poll_s": 0.05})
    triggerer.watch(KEY, spec, context(), datetime.now(UTC) + timedelta(seconds=30))
    assert not woken.wait(0.2)
    path.write_text("x")
    assert fired_once(triggerer, woken).payload == str(path)


def test_a_trigger_still_waiting_at_its_deadline_times_out(loop: tuple[Triggerer, threading.Event], tmp_path: Path) -> None:
    triggerer, woken = loop
    spec = TriggerWaitSpec(trigger="file", args={"path": str(tmp_path / "never"), "poll_s": 0.05})
    triggerer.watch(KEY, spec, context(), datetime.now(UTC) + timedelta(seconds=0.2))
    assert fired_once(triggerer, woken).timed_out


def test_an_unknown_trigger_type_is_reported_with_the_known_ones(loop: tuple[Triggerer, threading.Event]) -> None:
    triggerer, woken = loop
    triggerer.watch(KEY, TriggerWaitSpec(trigger="queue_length"), context(), datetime.now(UTC) + timedelta(seconds=30))
    error = fired_once(triggerer, woken).error or ""
    assert "no trigger type named 'queue_length'" in error and "known: file, time" in error


def test_a_trigger_that_breaks_is_reported_not_raised(loop: tuple[Triggerer, threading.Event]) -> None:
    triggerer, woken = loop
    triggerer.watch(KEY, TriggerWaitSpec(trigger="time", args={"moment": "tomorrow"}), context(), datetime.now(UTC) + timedelta(seconds=30))
    assert "moment must be an ISO 8601 date-time" in (fired_once(triggerer, woken).error or "")


def test_a_cancelled_watch_never_fires(loop: tuple[Triggerer, threading.Event]) -> None:
    triggerer, woken = loop
    moment = (datetime.now(UTC) + timedelta(seconds=0.2)).isoformat()
    triggerer.watch(KEY, TriggerWaitSpec(trigger="time", args={"moment": moment}), context(), datetime.now(UTC) + timedelta(seconds=30))
    triggerer.cancel(KEY)
    time.sleep(0.4)
    assert (triggerer.take_fired(), triggerer.watched(), woken.is_set()) == ([], [], False)


def test_the_built_in_trigger_types_are_registered_like_a_plugins() -> None:
    assert {"time", "file", "http"} <= set(load_plugins(folder=None).trigger_types)
