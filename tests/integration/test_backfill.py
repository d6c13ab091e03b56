"""Backfills: runs for past intervals, oldest first, marked as backfill; failed ones re-run on request."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.states import RunState, TaskState
from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store import runs as run_store
from orchestrator.store.backfill import NotScheduledError, apply_backfill, plan_backfill
from orchestrator.store.models import DagRun
from orchestrator.store.runs import Batch, RunKey

from .harness import SchedulerThread, cli_env, make_config, orch, upgraded_sessions, wait_until, write_dag

DAILY = """
    from datetime import datetime
    from orchestrator import DAG, PythonTask
    from tests.fixtures import succeed

    with DAG("daily", schedule="@daily", start_date=datetime(2026, 1, 1), catchup=False, max_active_runs=2) as dag:
        PythonTask(task_id="work", python_callable=succeed)
"""
UNSCHEDULED = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import succeed

    with DAG("manual_only") as dag:
        PythonTask(task_id="work", python_callable=succeed)
"""
NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, sessionmaker[Session]]:
    write_dag(tmp_path / "dags", "daily.py", DAILY)
    write_dag(tmp_path / "dags", "manual_only.py", UNSCHEDULED)
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    sync_dag_folder(sessions, make_config(tmp_path, url))
    return tmp_path, sessions


def _backfill_runs(sessions: sessionmaker[Session]) -> list[DagRun]:
    with sessions() as s:
        return list(s.scalars(select(DagRun).where(DagRun.run_type == "backfill").order_by(DagRun.logical_date)))


def test_a_backfill_queues_one_run_per_interval_marked_as_backfill(store: tuple[Path, sessionmaker[Session]]) -> None:
    _, sessions = store
    with sessions.begin() as s:
        plan = plan_backfill(s, "daily", datetime(2026, 3, 1), datetime(2026, 3, 3), rerun_failed=False, now=NOW)
        apply_backfill(s, "daily", plan, now=NOW, actor="test")
    runs = _backfill_runs(sessions)
    assert [r.logical_date.day for r in runs] == [1, 2, 3]
    assert {r.state for r in runs} == {"queued"}


def test_a_second_backfill_keeps_the_runs_already_there(store: tuple[Path, sessionmaker[Session]]) -> None:
    _, sessions = store
    with sessions.begin() as s:
        apply_backfill(s, "daily", plan_backfill(s, "daily", datetime(2026, 3, 1), datetime(2026, 3, 2), rerun_failed=False, now=NOW), now=NOW, actor="t")
    with sessions.begin() as s:
        plan = plan_backfill(s, "daily", datetime(2026, 3, 1), datetime(2026, 3, 3), rerun_failed=False, now=NOW)
    assert [i.start.day for i in plan.create] == [3]
    assert len(plan.keep) == 2


def test_a_dag_without_a_schedule_cannot_be_backfilled(store: tuple[Path, sessionmaker[Session]]) -> None:
    _, sessions = store
    with pytest.raises(NotScheduledError, match="no schedule"), sessions.begin() as s:
        plan_backfill(s, "manual_only", datetime(2026, 3, 1), datetime(2026, 3, 3), rerun_failed=False, now=NOW)


def test_dry_run_prints_the_intervals_and_writes_nothing(store: tuple[Path, sessionmaker[Session]]) -> None:
    home, sessions = store
    result = orch(["dags", "backfill", "daily", "--start", "2026-03-01", "--end", "2026-03-02", "--dry-run"], cli_env(home))
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("would run") == 2
    assert _backfill_runs(sessions) == []


def test_a_start_after_the_end_exits_2(store: tuple[Path, sessionmaker[Session]]) -> None:
    home, _ = store
    result = orch(["dags", "backfill", "daily", "--start", "2026-03-05", "--end", "2026-03-01"], cli_env(home))
    assert result.returncode == 2
    assert "after it ends" in result.stderr


def test_backfilled_runs_run_through_the_scheduler_oldest_first(store: tuple[Path, sessionmaker[Session]], dask_address: str) -> None:
    home, sessions = store
    with sessions.begin() as s:
        apply_backfill(s, "daily", plan_backfill(s, "daily", datetime(2026, 3, 1), datetime(2026, 3, 4), rerun_failed=False, now=NOW), now=NOW, actor="t")
    url = f"sqlite:///{home / 'orchestrator.db'}"
    with SchedulerThread(make_config(home, url), sessions, DaskExecutor(dask_address)):
        wait_until(lambda: all(r.state == "success" for r in _backfill_runs(sessions)), timeout=60, what="the backfill to finish")
    runs = _backfill_runs(sessions)
    starts = [r.start_date for r in runs]
    assert starts == sorted(starts)
    assert len(runs) == 4


def test_rerun_failed_clears_the_failed_tasks_of_a_failed_interval(store: tuple[Path, sessionmaker[Session]]) -> None:
    _, sessions = store
    with sessions.begin() as s:
        apply_backfill(s, "daily", plan_backfill(s, "daily", datetime(2026, 3, 1), datetime(2026, 3, 1), rerun_failed=False, now=NOW), now=NOW, actor="t")
        run = s.scalars(select(DagRun).where(DagRun.run_type == "backfill")).one()
        # the run failed: recorded as the scheduler would
        key = RunKey("daily", run.run_id)
        views = run_store.insert_task_instances(s, [(key, run_store.spec_for_version(s, "daily", run.version_hash))])[key]
        batch = Batch()
        batch.move_run(key, RunState.QUEUED, RunState.RUNNING, NOW)
        batch.move_task(key, "work", views["work"], TaskState.QUEUED, NOW)
        batch.move_task(key, "work", views["work"], TaskState.RUNNING, NOW, try_number=1)
        batch.move_task(key, "work", views["work"], TaskState.FAILED, NOW)
        batch.move_run(key, RunState.RUNNING, RunState.FAILED, NOW)
        batch.write(s)
    with sessions.begin() as s:
        plan = plan_backfill(s, "daily", datetime(2026, 3, 1), datetime(2026, 3, 1), rerun_failed=True, now=NOW)
        apply_backfill(s, "daily", plan, now=NOW, actor="t")
    assert plan.rerun == [run.run_id]
    rerun = _backfill_runs(sessions)[0]
    assert rerun.state == "queued"
