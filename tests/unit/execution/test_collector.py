"""The collector set for the scheduler's loop and for the workers' tries (orchestrator/execution/collector.py)."""

from __future__ import annotations

import gc

import pytest

from orchestrator.execution.collector import THRESHOLDS, tuned_for_the_loop


def test_the_loop_collects_the_young_generation_less_often() -> None:
    with tuned_for_the_loop():
        assert gc.get_threshold() == THRESHOLDS


def test_what_was_alive_when_the_loop_started_is_frozen_out_of_collections() -> None:
    survivor = [object()]
    with tuned_for_the_loop():
        assert gc.get_freeze_count() > 0
    del survivor


def test_the_settings_before_the_loop_come_back_after_it_even_when_it_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), tuned_for_the_loop():
        raise RuntimeError("the loop stopped")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
