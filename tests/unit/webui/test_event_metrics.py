"""Per-DAG figures from event rows (pure): what each kind of event adds to /metrics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from orchestrator.store.events import DEADLINE_MISSED
from webui.api.event_metrics import DagFigures, Histogram, due_at

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _row(kind: str, dag_id: str | None = "d", run_id: str | None = "r", **fields: Any) -> SimpleNamespace:
    values = {"task_id": None, "map_index": None, "try_number": None, "to_state": kind.split(".", 1)[1] if "." in kind else None, "payload": None}
    return SimpleNamespace(kind=kind, dag_id=dag_id, run_id=run_id, **{**values, **fields})


def _run(**fields: Any) -> SimpleNamespace:
    values = {"run_type": "manual", "queued_at": T0, "start_date": T0 + timedelta(seconds=2), "end_date": T0 + timedelta(seconds=12), "data_interval_end": T0}
    return SimpleNamespace(**{**values, **fields})


def test_a_histogram_is_cumulative_with_inf_last() -> None:
    h = Histogram((1.0, 5.0))
    for v in (0.5, 1.0, 3.0, 60.0):
        h.observe(v)
    assert h.cumulative() == [("1.0", 2), ("5.0", 3), ("+Inf", 4)]
    assert h.total == 64.5


def test_a_finished_run_counts_by_end_state_and_times_its_duration() -> None:
    fig = DagFigures()
    fig.add([_row("run.failed")], {("d", "r"): _run()}, {})
    assert fig.runs_finished == {("d", "failed"): 1}
    assert fig.run_durations["d"].total == 10.0


def test_a_try_that_is_retried_counts_as_a_retry_and_is_timed() -> None:
    fig = DagFigures()
    key = ("d", "r", "t", -1, 1)
    fig.add([_row("task.up_for_retry", task_id="t", map_index=-1, try_number=1)], {}, {key: (T0, T0 + timedelta(seconds=3))})
    assert fig.retries == {"d": 1}
    assert fig.task_durations["d"].total == 3.0


def test_lateness_runs_from_a_scheduled_runs_interval_end_and_any_others_queueing() -> None:
    scheduled = _run(run_type="scheduled", data_interval_end=T0 - timedelta(seconds=30), queued_at=T0)
    assert due_at(scheduled) == T0 - timedelta(seconds=30)
    assert due_at(_run()) == T0
    fig = DagFigures()
    fig.add([_row("run.running")], {("d", "r"): scheduled}, {})
    assert fig.lateness["d"].total == 32.0


def test_deadline_misses_count_per_dag_and_breaker_trips_per_key() -> None:
    fig = DagFigures()
    fig.add([_row(DEADLINE_MISSED), _row("circuit.open", dag_id=None, run_id=None, payload={"key": "billing_api"})], {}, {})
    assert (fig.deadline_misses, fig.breaker_trips) == ({"d": 1}, {"billing_api": 1})


def test_events_that_time_nothing_add_nothing() -> None:
    fig = DagFigures()
    fig.add([_row("task.skipped", task_id="t"), _row("dag.paused", run_id=None), _row("run.queued")], {}, {})
    assert fig == DagFigures()
