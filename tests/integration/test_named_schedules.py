"""Named schedules: kept in the store, managed through the CLI (audited), run by the scheduler with their conf."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.errors import ConflictError, NotFoundError
from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store import dags as dag_store
from orchestrator.store import run_creation
from orchestrator.store import schedules as schedule_store
from orchestrator.store.models import AuditLog, Dag, DagRun
from orchestrator.store.schedules import ScheduleError
from scheduler.cron import create_named_schedule_runs

from .harness import cli_env, make_config, orch, upgraded_sessions, wait_until, write_dag

MANUAL = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import succeed

    with DAG("manual_only", max_active_runs=1) as dag:
        PythonTask(task_id="work", python_callable=succeed)
"""
NOW = datetime(2026, 3, 10, 12, 30, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, sessionmaker[Session]]:
    write_dag(tmp_path / "dags", "manual_only.py", MANUAL)
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    sync_dag_folder(sessions, make_config(tmp_path, url))
    return tmp_path, sessions


def _runs(sessions: sessionmaker[Session]) -> list[DagRun]:
    with sessions() as s:
        return list(s.scalars(select(DagRun).where(DagRun.dag_id == "manual_only").order_by(DagRun.logical_date)))


def _create(sessions: sessionmaker[Session], name: str = "nightly", **kw: object) -> None:
    with sessions.begin() as s:
        schedule_store.create(s, name, "manual_only", "@daily", NOW, conf={"region": "eu"}, **kw)  # type: ignore[arg-type]


# -- store ------------------------------------------------------------------------------------------
def test_a_second_schedule_with_the_same_name_is_a_conflict(store: tuple[Path, sessionmaker[Session]]) -> None:
    _, sessions = store
    _create(sessions)
    with pytest.raises(ConflictError, match="already exists"):
        _create(sessions)


def test_a_schedule_of_an_unknown_dag_is_not_found(store: tuple[Path, sessionmaker[Session]]) -> None:
    _, sessions = store
    with pytest.raises(NotFoundError, match="dag_id"), sessions.begin() as s:
        schedule_store.create(s, "x", "nope", "@daily", NOW)


def test_an_update_with_a_bad_cron_changes_nothing(store: tuple[Path, sessionmaker[Session]]) -> None:
    _, sessions = store
    _create(sessions)
    with pytest.raises(ScheduleError, match="^cron: "), sessions.begin() as s:
        schedule_store.update(s, "nightly", NOW, cron="61 * * * *")
    with sessions() as s:
        assert schedule_store.get(s, "nightly").cron == "@daily"


# -- scheduler --------------------------------------------------------------------------------------
def test_a_due_schedule_queues_one_run_with_its_conf_and_advances(store: tuple[Path, sessionmaker[Session]]) -> None:
    _, sessions = store
    _create(sessions)
    with sessions.begin() as s:
        assert create_named_schedule_runs(s, NOW) == 1
        assert create_named_schedule_runs(s, NOW) == 0
        assert schedule_store.get(s, "nightly").next_run_at == datetime(2026, 3, 11, tzinfo=UTC)
    [run] = _runs(sessions)
    assert run.run_id == "schedule:nightly__2026-03-09T00:00:00+00:00"
    assert (run.run_type, run.conf, run.data_interval_end) == ("scheduled", {"region": "eu"}, datetime(2026, 3, 10, tzinfo=UTC))


def test_a_paused_schedule_queues_nothing(store: tuple[Path, sessionmaker[Session]]) -> None:
    _, sessions = store
    _create(sessions)
    with sessions.begin() as s:
        schedule_store.pause(s, "nightly", NOW)
        assert create_named_schedule_runs(s, NOW) == 0


def test_a_schedule_of_a_paused_dag_waits(store: tuple[Path, sessionmaker[Session]]) -> None:
    _, sessions = store
    _create(sessions)
    with sessions.begin() as s:
        s.get(Dag, "manual_only").is_paused = True  # type: ignore[union-attr]
        assert create_named_schedule_runs(s, NOW) == 0
        assert schedule_store.get(s, "nightly").next_run_at == datetime(2026, 3, 10, tzinfo=UTC)


def test_max_active_runs_holds_back_a_second_schedule(store: tuple[Path, sessionmaker[Session]]) -> None:
    _, sessions = store
    _create(sessions, "a")
    _create(sessions, "b")
    with sessions.begin() as s:
        assert create_named_schedule_runs(s, NOW) == 1
    assert [r.run_id.split("__")[0] for r in _runs(sessions)] == ["schedule:a"]


def test_the_scheduler_runs_a_named_schedule_with_its_conf(store: tuple[Path, sessionmaker[Session]], dask_address: str) -> None:
    from scheduler.service import Scheduler

    home, sessions = store
    _create(sessions)
    url = f"sqlite:///{home / 'orchestrator.db'}"
    scheduler = Scheduler(make_config(home, url), sessions, DaskExecutor(dask_address), clock=lambda: NOW)
    thread = threading.Thread(target=scheduler.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: [r.state for r in _runs(sessions)] == ["success"], timeout=60, what="the scheduled run to succeed")
    finally:
        scheduler.stop()
        thread.join(60)
    [run] = _runs(sessions)
    assert run.conf == {"region": "eu"} and run.run_id.startswith("schedule:nightly__")


# -- CLI --------------------------------------------------------------------------------------------
def test_the_cli_creates_lists_pauses_resumes_and_deletes_with_audit(store: tuple[Path, sessionmaker[Session]]) -> None:
    home, sessions = store
    env = cli_env(home)
    steps = [
        ["schedules", "create", "nightly", "--dag", "manual_only", "--cron", "0 6 * * *", "--timezone", "Europe/Berlin", "--conf", '{"a": 1}'],
        ["schedules", "pause", "nightly"],
        ["schedules", "resume", "nightly"],
        ["schedules", "update", "nightly", "--cron", "@hourly"],
    ]
    for args in steps:
        result = orch(args, env)
        assert result.returncode == 0, result.stderr
    listed = orch(["schedules", "list", "--json"], env)
    [row] = json.loads(listed.stdout)
    assert (row["cron"], row["timezone"], row["conf"], row["enabled"]) == ("@hourly", "Europe/Berlin", {"a": 1}, True)
    assert orch(["schedules", "delete", "nightly"], env).returncode == 0
    assert json.loads(orch(["schedules", "list", "--json"], env).stdout) == []
    with sessions() as s:
        audited = [(a.action, a.actor.startswith("cli:")) for a in s.scalars(select(AuditLog).order_by(AuditLog.id))]
    assert audited == [(a, True) for a in ("schedule.create", "schedule.pause", "schedule.resume", "schedule.update", "schedule.delete")]


def test_the_cli_exits_2_naming_a_bad_timezone(store: tuple[Path, sessionmaker[Session]]) -> None:
    home, _ = store
    result = orch(["schedules", "create", "x", "--dag", "manual_only", "--cron", "@daily", "--timezone", "Nowhere/Land"], cli_env(home))
    assert result.returncode == 2
    assert "timezone" in result.stderr


def test_the_cli_exits_2_for_an_unknown_schedule(store: tuple[Path, sessionmaker[Session]]) -> None:
    home, _ = store
    result = orch(["schedules", "pause", "ghost"], cli_env(home))
    assert result.returncode == 2
    assert "no schedule named 'ghost'" in result.stderr


def test_the_cli_exits_1_for_a_duplicate_name(store: tuple[Path, sessionmaker[Session]]) -> None:
    home, sessions = store
    _create(sessions)
    result = orch(["schedules", "create", "nightly", "--dag", "manual_only", "--cron", "@daily"], cli_env(home))
    assert result.returncode == 1
    assert "already exists" in result.stderr


def test_a_named_schedules_runs_do_not_move_the_dags_own_cron(tmp_path: Path) -> None:
    write_dag(tmp_path / "dags", "hourly.py", """
        from datetime import datetime
        from orchestrator import DAG, PythonTask
        from tests.fixtures import succeed

        with DAG("hourly", schedule="@hourly", start_date=datetime(2026, 1, 1), catchup=True) as dag:
            PythonTask(task_id="work", python_callable=succeed)
    """)
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    sync_dag_folder(sessions, make_config(tmp_path, url))
    late = datetime(2026, 6, 1, tzinfo=UTC)
    with sessions.begin() as s:
        run_creation.create_run(
            s, "hourly", run_id=f"schedule:nightly__{late.isoformat()}", run_type="scheduled", logical_date=late,
            data_interval=(late, late.replace(hour=1)), conf=None, now=late, actor="test",
        )
    with sessions() as s:
        assert dag_store.last_scheduled_intervals(s, ["hourly"]) == {}
