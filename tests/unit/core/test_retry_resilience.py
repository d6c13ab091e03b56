"""Retry jitter (seeded), ISO 8601 durations, retry_on / no_retry_on and a plugin's retry decision."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from orchestrator import DAG, PythonTask
from orchestrator.core.durations import duration_seconds, parse_duration
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.planner import TaskView
from orchestrator.core.retry import retry_delay, retryable
from orchestrator.core.settlement import settle_outcome
from orchestrator.core.spec import TaskSpec
from orchestrator.core.states import TaskState

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def noop() -> None:
    return None


def failed_try(task: TaskSpec, **kwargs: object):  # noqa: ANN201 - a Settlement
    return settle_outcome(task, TaskView(state=TaskState.RUNNING, try_number=1, max_tries=3), "failed", NOW, "boom", **kwargs)


# -- jitter ----------------------------------------------------------------------------------
def test_jitter_is_the_same_for_the_same_seed_and_try() -> None:
    task = TaskSpec(task_id="a", retry_delay_s=100, retry_jitter=0.5)
    assert retry_delay(task, 1, "d/r/a") == retry_delay(task, 1, "d/r/a")


def test_jitter_stays_within_its_fraction_and_varies_between_task_instances() -> None:
    task = TaskSpec(task_id="a", retry_delay_s=100, retry_jitter=0.2)
    delays = {retry_delay(task, 1, f"d/run{i}/a").total_seconds() for i in range(50)}
    assert all(80 <= d <= 120 for d in delays)
    assert len(delays) > 40


def test_jitter_never_exceeds_the_max_retry_delay() -> None:
    task = TaskSpec(task_id="a", retry_delay_s=100, retry_jitter=1.0, max_retry_delay_s=100)
    assert all(retry_delay(task, 1, f"s{i}") <= timedelta(seconds=100) for i in range(50))


def test_without_jitter_the_delay_is_exact() -> None:
    assert retry_delay(TaskSpec(task_id="a", retry_delay_s=7), 1, "x") == timedelta(seconds=7)


def test_the_recorded_next_retry_at_includes_the_seeded_jitter() -> None:
    task = TaskSpec(task_id="a", retry_delay_s=10, retry_jitter=0.5, retries=2)
    settled = failed_try(task, seed="d/r/a")
    assert settled.next_retry_at == NOW + retry_delay(task, 1, "d/r/a") != NOW + timedelta(seconds=10)


# -- ISO 8601 durations ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT5M", 300), ("PT30S", 30), ("PT0.5S", 0.5), ("P1DT2H", 93600), ("P2W", 1209600), ("pt1h30m", 5400), ("PT1,5S", 1.5)],
)
def test_iso_durations_parse_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["P", "PT", "5M", "P1Y", "P1M", "-PT5M", "PT5X", "P1DT"])
def test_malformed_or_variable_length_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize("value", [timedelta(minutes=5), 300, 300.0, "PT5M"])
def test_a_duration_option_takes_a_timedelta_seconds_or_iso_text(value: object) -> None:
    assert duration_seconds(value, "timeout") == 300


@pytest.mark.parametrize(
    ("value", "says"),
    [("5 minutes", "timeout must be a timedelta, a number of seconds or an ISO 8601 duration: '5 minutes' is not"),
     (True, "timeout must be a timedelta, a number of seconds or an ISO 8601 duration such as 'PT4H', not True"),
     (-1, "timeout must not be negative, got -1")],
)
def test_a_bad_duration_option_is_refused_naming_the_option(value: object, says: str) -> None:
    with pytest.raises(ValueError, match=re.escape(says)):
        duration_seconds(value, "timeout")


def test_tasks_accept_iso_durations_for_their_delays_and_timeout() -> None:
    with DAG("iso") as dag:
        PythonTask(task_id="a", python_callable=noop, retry_delay="PT5M", max_retry_delay="PT1H", execution_timeout="PT30S")
    spec = dag.to_spec().task_map["a"]
    assert (spec.retry_delay_s, spec.max_retry_delay_s, spec.execution_timeout_s) == (300, 3600, 30)


def test_a_bad_duration_names_the_setting() -> None:
    with DAG("iso_bad") as dag:
        PythonTask(task_id="a", python_callable=noop, retry_delay="5 minutes")
    with pytest.raises(DagDefinitionError, match="retry_delay"):
        dag.to_spec()


# -- retry_on / no_retry_on ------------------------------------------------------------------------
def test_retry_on_names_exception_types_and_their_bases() -> None:
    task = TaskSpec(task_id="a", retry_on=("OSError",))
    assert retryable(task, ("ConnectionRefusedError", "ConnectionError", "OSError", "Exception"))
    assert not retryable(task, ("ValueError", "Exception"))


def test_no_retry_on_wins_over_retry_on() -> None:
    task = TaskSpec(task_id="a", retry_on=("Exception",), no_retry_on=("ValueError",))
    assert not retryable(task, ("ValueError", "Exception"))


def test_a_try_failing_with_an_error_not_in_retry_on_fails_at_once() -> None:
    task = TaskSpec(task_id="a", retries=2, retry_on=("TimeoutError",))
    assert failed_try(task, error_types=("KeyError", "LookupError", "Exception")).state is TaskState.FAILED
    assert failed_try(task, error_types=("TimeoutError", "OSError", "Exception")).state is TaskState.UP_FOR_RETRY


def test_tasks_store_exception_classes_as_names() -> None:
    with DAG("filters") as dag:
        PythonTask(task_id="a", python_callable=noop, retry_on=[ConnectionError, "builtins.TimeoutError"], no_retry_on=KeyError)
    spec = dag.to_spec().task_map["a"]
    assert spec.retry_on == ("ConnectionError", "TimeoutError") and spec.no_retry_on == ("KeyError",)


# -- a plugin's decision -----------------------------------------------------------------------------
def test_a_plugin_decision_sets_the_delay() -> None:
    settled = failed_try(TaskSpec(task_id="a", retries=2, retry_delay_s=300), decision=(True, 2.5))
    assert settled.next_retry_at == NOW + timedelta(seconds=2.5)


def test_a_plugin_may_refuse_a_retry_the_policy_allows() -> None:
    assert failed_try(TaskSpec(task_id="a", retries=2), decision=(False, None)).state is TaskState.FAILED


def test_a_plugin_cannot_grant_tries_beyond_max_tries() -> None:
    view = TaskView(state=TaskState.RUNNING, try_number=3, max_tries=3)
    assert settle_outcome(TaskSpec(task_id="a", retries=2), view, "failed", NOW, "x", decision=(True, 1.0)).state is TaskState.FAILED
