"""Sensors' pure decisions: the poke interval (with Airflow's exponential backoff), what a
rescheduled poke leads to, the timeout's verdict, and how the scheduler's core settles them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator.core.outcomes import Ended, end_try
from orchestrator.core.planner import Submit, TaskView, plan_run
from orchestrator.core.sensors import (
    MIN_BACKOFF_S,
    TIMEOUT_ERROR_TYPE,
    PokeRecord,
    SensorSpec,
    after_poke,
    next_poke_interval,
    poke_record,
    timed_out,
)
from orchestrator.core.settlement import settle_outcome
from orchestrator.core.spec import DagSpec, TaskSpec
from orchestrator.core.states import RunState, TaskState, is_task_transition_allowed
from orchestrator.execution.runtime import Outcome
from orchestrator.store.runs import RunKey
from scheduler.active_runs import ActiveRun

T = TaskState
START = datetime(2026, 1, 1, 12, tzinfo=UTC)


def spec(**fields: object) -> SensorSpec:
    return SensorSpec(**{"mode": "reschedule", "poke_interval_s": 10.0, "timeout_s": 3600.0, **fields})  # type: ignore[arg-type]


# -- intervals ---------------------------------------------------------------------------------------
def test_without_backoff_every_interval_is_the_poke_interval() -> None:
    assert [next_poke_interval(spec(), n, 5.0 * n, "seed") for n in range(1, 6)] == [10.0] * 5


def test_backoff_doubles_the_base_after_each_poke_with_a_jitter_below_the_base() -> None:
    intervals = [next_poke_interval(spec(exponential_backoff=True), n, 0.0, "d#t#r") for n in range(1, 7)]
    bases = [5.0, 10.0, 20.0, 40.0, 80.0, 160.0]  # poke_interval * 2 ** (pokes - 2)
    assert all(base <= got < 2 * base for base, got in zip(bases, intervals, strict=True)), intervals


def test_backoff_is_the_same_for_the_same_seed_and_poke() -> None:
    one = [next_poke_interval(spec(exponential_backoff=True), n, 0.0, "d#t#r") for n in range(1, 5)]
    two = [next_poke_interval(spec(exponential_backoff=True), n, 0.0, "d#t#r") for n in range(1, 5)]
    assert one == two


def test_backoff_never_waits_less_than_a_second() -> None:
    assert next_poke_interval(spec(exponential_backoff=True, poke_interval_s=0.1), 1, 0.0, "s") >= MIN_BACKOFF_S


def test_backoff_is_capped_by_max_wait() -> None:
    assert next_poke_interval(spec(exponential_backoff=True, max_wait_s=30.0), 12, 0.0, "s") == 30.0


def test_backoff_is_capped_by_what_is_left_of_the_timeout() -> None:
    assert next_poke_interval(spec(exponential_backoff=True, timeout_s=100.0), 12, 95.0, "s") == 5.0


def test_backoff_after_thousands_of_pokes_stays_finite() -> None:
    assert next_poke_interval(spec(exponential_backoff=True), 5000, 0.0, "s") == 3600.0


# -- a rescheduled poke -------------------------------------------------------------------------------
def test_the_first_poke_that_fails_records_its_start_and_waits_one_interval() -> None:
    verdict = after_poke(spec(), None, START, START + timedelta(seconds=1), "s")
    assert (verdict.state, verdict.next_poke_at, verdict.record) == (
        T.UP_FOR_RESCHEDULE, START + timedelta(seconds=11), PokeRecord(START, 1),
    )


def test_later_pokes_keep_the_first_pokes_time_and_count_on() -> None:
    later = START + timedelta(minutes=5)
    verdict = after_poke(spec(), PokeRecord(START, 4), later, later + timedelta(seconds=1), "s")
    assert verdict.record == PokeRecord(START, 5)


def test_a_poke_past_the_timeout_from_the_first_poke_fails_the_sensor() -> None:
    late = START + timedelta(seconds=3600)
    verdict = after_poke(spec(), PokeRecord(START, 7), late, late, "s")
    assert (verdict.state, verdict.error_type) == (T.FAILED, TIMEOUT_ERROR_TYPE)
    assert "timeout of 3600 s" in (verdict.error or "") and "8 poke(s)" in (verdict.error or "")


def test_a_soft_fail_sensor_past_its_timeout_is_skipped() -> None:
    verdict = timed_out(3, 61.0, 60.0, soft_fail=True)
    assert (verdict.state, verdict.error_type) == (T.SKIPPED, None)
    assert verdict.reason.startswith("skipped: ") and "soft_fail" in verdict.reason


def test_the_record_round_trips_through_the_task_instances_result() -> None:
    assert poke_record(PokeRecord(START, 3).to_result()) == PokeRecord(START, 3)
    assert poke_record({"some": "result"}) is None


# -- the scheduler's core ------------------------------------------------------------------------------
SENSOR = TaskSpec(task_id="wait", step_type="sensor", sensor=spec(), retries=2)


def test_a_reschedule_outcome_makes_the_task_up_for_reschedule_keeping_its_record() -> None:
    view = TaskView(T.RUNNING, try_number=1, max_tries=3)
    got = settle_outcome(SENSOR, view, "reschedule", START + timedelta(seconds=1), None, started=START)
    assert (got.state, got.next_retry_at, got.result) == (T.UP_FOR_RESCHEDULE, START + timedelta(seconds=11), PokeRecord(START, 1).to_result())


def test_a_poke_is_a_try_but_not_one_of_the_retries() -> None:
    run = ActiveRun(
        key=RunKey("d", "r"), spec=DagSpec(dag_id="d", fileloc="d.py", tasks=(SENSOR,)), state=RunState.RUNNING, logical_date=None,
        data_interval_start=None, data_interval_end=None, conf={},
        tasks={"wait": TaskView(T.RUNNING, try_number=1, max_tries=3, start_date=START)},
    )
    outcome = Outcome(key="k", task_id="wait", try_number=1, status="reschedule", start=START, end=START + timedelta(seconds=1), worker="w")
    changes = end_try(run, "wait", 1, Ended(outcome), START + timedelta(seconds=2))
    (move,) = changes.moves
    assert (move.to, move.changes["max_tries"]) == (T.UP_FOR_RESCHEDULE, 4)
    assert changes.tries[0].values["state"] == "up_for_reschedule"


def test_a_timed_out_reschedule_records_the_timeout_as_the_tries_error() -> None:
    late = START + timedelta(hours=2)
    run = ActiveRun(
        key=RunKey("d", "r"), spec=DagSpec(dag_id="d", fileloc="d.py", tasks=(SENSOR,)), state=RunState.RUNNING, logical_date=None,
        data_interval_start=None, data_interval_end=None, conf={},
        tasks={"wait": TaskView(T.RUNNING, try_number=9, max_tries=11, start_date=late, result=PokeRecord(START, 8).to_result())},
    )
    outcome = Outcome(key="k", task_id="wait", try_number=9, status="reschedule", start=late, end=late, worker="w")
    changes = end_try(run, "wait", 9, Ended(outcome), late)
    assert changes.moves[0].to is T.FAILED
    assert "timeout" in changes.tries[0].values["error"] and changes.tries[0].values["state"] == "failed"


def test_a_skipped_outcome_skips_the_task() -> None:
    got = settle_outcome(SENSOR, TaskView(T.RUNNING, try_number=1, max_tries=3), "skipped", START, "not today")
    assert (got.state, got.reason) == (T.SKIPPED, "skipped: not today")


@pytest.mark.parametrize(("due_in", "submitted"), [(-1, True), (1, False)])
def test_a_sensor_up_for_reschedule_is_submitted_once_its_next_poke_is_due(due_in: int, submitted: bool) -> None:
    dag = DagSpec(dag_id="d", fileloc="d.py", tasks=(SENSOR,))
    view = TaskView(T.UP_FOR_RESCHEDULE, try_number=1, max_tries=4, next_retry_at=START + timedelta(seconds=due_in))
    commands = plan_run(dag, {"wait": view}, START, chains=False)
    assert (Submit("wait", reason="the sensor's next poke is due") in commands) is submitted


def test_up_for_reschedule_is_entered_from_running_and_left_for_the_queue() -> None:
    assert is_task_transition_allowed(T.RUNNING, T.UP_FOR_RESCHEDULE)
    assert is_task_transition_allowed(T.UP_FOR_RESCHEDULE, T.QUEUED)
    assert not is_task_transition_allowed(T.UP_FOR_RESCHEDULE, T.SUCCESS)
