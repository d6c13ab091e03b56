"""Runs that wait for other DAGs (`depends_on`): through the real scheduler loop with an injected
clock, on SQLite (and the main scenario on PostgreSQL); cross-DAG cycles through the folder sync."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from orchestrator.execution.executor import InProcessExecutor
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store import run_creation
from orchestrator.store import users as user_store
from orchestrator.store.models import Dag, DagRun, ImportError_
from orchestrator.store.users import Role
from webui import create_app

from .harness import SchedulerThread, cli_env, make_config, orch, run_row, task_rows, upgraded_sessions, wait_for_run, wait_until, write_dag

D = datetime(2026, 11, 22, tzinfo=UTC)  # the data interval every report run covers: D to D + 1 day
DAY = timedelta(days=1)
T0 = datetime(2026, 11, 23, 0, 5, tzinfo=UTC)  # the report run is due a little after its interval

ETL = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import fail_when_asked, succeed

    with DAG("etl") as dag:
        PythonTask(task_id="extract", python_callable=succeed) >> PythonTask(task_id="load", python_callable=fail_when_asked)
"""
REPORT = """
    from datetime import timedelta
    from orchestrator import DAG, DagDependency, PythonTask
    from tests.fixtures import succeed

    with DAG("{dag_id}", depends_on=[{dependency}], max_active_runs=1) as dag:
        PythonTask(task_id="render", python_callable=succeed)
"""
REPORTS = {
    "report_same": 'DagDependency("etl")',
    "report_task": 'DagDependency("etl", task_id="extract")',
    "report_latest": 'DagDependency("etl", mode="latest")',
    "report_window": 'DagDependency("etl", mode="window", window=timedelta(hours=12))',
    "report_ghost": 'DagDependency("ghost")',
}
SAME_REASON = "waiting for etl run of 2026-11-22T00:00Z (same_interval) to succeed; no such run yet"


class Clock:
    """The scheduler's clock: it moves only when a test moves it."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def write_dags(folder: Path) -> None:
    write_dag(folder, "etl.py", ETL)
    for dag_id, dependency in REPORTS.items():
        write_dag(folder, f"{dag_id}.py", REPORT.format(dag_id=dag_id, dependency=dependency))


@contextmanager
def scheduler(home: Path, database_url: str, clock: Clock) -> Iterator[sessionmaker[Session]]:
    """The DAGs above in a folder, and the real scheduler loop on them with `clock` (tasks run in-process)."""
    write_dags(home / "dags")
    sessions = upgraded_sessions(database_url)
    with SchedulerThread(make_config(home, database_url), sessions, InProcessExecutor(), clock=clock):
        yield sessions


def queue(sessions: sessionmaker[Session], dag_id: str, logical_date: datetime, now: datetime, conf: dict | None = None) -> str:
    """Queue a run of `dag_id` for the day starting at `logical_date`; returns its run_id."""
    with sessions.begin() as s:
        row = run_creation.create_run(
            s, dag_id, run_id=None, run_type="manual", logical_date=logical_date, data_interval=(logical_date, logical_date + DAY),
            conf=conf, now=now, actor="test",
        )
        return row.run_id


def wait_for_state(sessions: sessionmaker[Session], dag_id: str, run_id: str, state: str) -> DagRun:
    wait_until(lambda: run_row(sessions, dag_id, run_id).state == state, timeout=60, what=f"run {dag_id}/{run_id} to be {state}")
    return run_row(sessions, dag_id, run_id)


def finished_etl(sessions: sessionmaker[Session], logical_date: datetime, now: datetime, *, fail: bool = False) -> DagRun:
    return wait_for_run(sessions, "etl", queue(sessions, "etl", logical_date, now, {"fail": True} if fail else None))


# -- waiting, starting, timing out --------------------------------------------------------------------
def test_a_run_waits_with_its_reason_and_starts_as_soon_as_its_upstream_succeeds(tmp_path: Path, database_url: str) -> None:
    clock = Clock(T0)
    with scheduler(tmp_path, database_url, clock) as sessions:
        report = queue(sessions, "report_same", D, clock())
        waiting = wait_for_state(sessions, "report_same", report, "waiting")
        assert (waiting.state_reason, waiting.waiting_since) == (SAME_REASON, T0)
        clock.at = T1 = T0 + timedelta(hours=1)
        # the clock stands still from here: the run must start without any timer running out
        finished_etl(sessions, D, clock())
        done = wait_for_run(sessions, "report_same", report)
    assert (done.state, done.start_date, done.state_reason) == ("success", T1, None)


def test_a_waiting_run_fails_with_the_reason_once_past_its_timeout(tmp_path: Path) -> None:
    clock = Clock(T0)
    with scheduler(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", clock) as sessions:
        report = queue(sessions, "report_same", D, clock())
        wait_for_state(sessions, "report_same", report, "waiting")
        clock.at = T0 + timedelta(hours=6, seconds=1)
        done = wait_for_run(sessions, "report_same", report)
    assert (done.state, done.state_reason) == ("failed", f"timed out after 6h: {SAME_REASON}")
    assert task_rows(sessions, "report_same", report) == {}


def test_a_waiting_run_holds_its_slot_of_max_active_runs(tmp_path: Path) -> None:
    clock = Clock(T0)
    with scheduler(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", clock) as sessions:
        first = queue(sessions, "report_same", D, clock())
        second = queue(sessions, "report_same", D + DAY, clock())
        wait_for_state(sessions, "report_same", first, "waiting")
        finished_etl(sessions, D + DAY, clock())  # meets the second run only
        barrier = queue(sessions, "report_ghost", D, clock())
        wait_for_state(sessions, "report_ghost", barrier, "waiting")  # a poll looked at every queued run since
        assert run_row(sessions, "report_same", second).state == "queued"
        finished_etl(sessions, D, clock())
        wait_for_run(sessions, "report_same", second)
    assert [run_row(sessions, "report_same", r).state for r in (first, second)] == ["success", "success"]


# -- the modes ----------------------------------------------------------------------------------------
def test_with_a_task_id_the_run_starts_once_that_task_succeeded_although_the_upstream_run_failed(tmp_path: Path) -> None:
    clock = Clock(T0)
    with scheduler(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", clock) as sessions:
        report = queue(sessions, "report_task", D, clock())
        wait_for_state(sessions, "report_task", report, "waiting")
        assert finished_etl(sessions, D, clock(), fail=True).state == "failed"
        assert wait_for_run(sessions, "report_task", report).state == "success"


def test_latest_is_met_by_the_newest_upstream_run_at_or_before_the_interval_end(tmp_path: Path) -> None:
    clock = Clock(T0)
    with scheduler(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", clock) as sessions:
        finished_etl(sessions, D - DAY, clock(), fail=True)
        finished_etl(sessions, D, clock())
        finished_etl(sessions, D + DAY, clock(), fail=True)  # ends after the report's interval: not looked at
        report = queue(sessions, "report_latest", D, clock())
        assert wait_for_run(sessions, "report_latest", report).state == "success"


def test_latest_waits_while_the_newest_upstream_run_failed(tmp_path: Path) -> None:
    clock = Clock(T0)
    with scheduler(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", clock) as sessions:
        finished_etl(sessions, D - DAY, clock())
        newest = finished_etl(sessions, D, clock(), fail=True)
        report = queue(sessions, "report_latest", D, clock())
        waiting = wait_for_state(sessions, "report_latest", report, "waiting")
    assert waiting.state_reason == (
        f"waiting for the latest etl run at or before 2026-11-23T00:00Z (latest) to succeed; {newest.run_id} is failed"
    )


def test_window_counts_only_upstream_runs_within_the_window_before_the_interval_end(tmp_path: Path) -> None:
    clock = Clock(T0)
    with scheduler(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", clock) as sessions:
        finished_etl(sessions, D + timedelta(hours=6), clock())  # before the window of 12 hours
        report = queue(sessions, "report_window", D, clock())
        waiting = wait_for_state(sessions, "report_window", report, "waiting")
        assert waiting.state_reason == (
            "waiting for a etl run between 2026-11-22T12:00Z and 2026-11-23T00:00Z (window) to succeed; no such run yet"
        )
        finished_etl(sessions, D + timedelta(hours=18), clock())
        assert wait_for_run(sessions, "report_window", report).state == "success"


def test_a_dependency_on_a_dag_that_does_not_exist_waits_and_says_so(tmp_path: Path) -> None:
    clock = Clock(T0)
    with scheduler(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", clock) as sessions:
        report = queue(sessions, "report_ghost", D, clock())
        waiting = wait_for_state(sessions, "report_ghost", report, "waiting")
    assert waiting.state_reason == "waiting for DAG ghost, which does not exist (yet)"


def test_the_api_and_the_run_page_show_why_a_run_waits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    with scheduler(tmp_path, url, Clock(T0)) as sessions:
        report = queue(sessions, "report_ghost", D, T0)
        wait_for_state(sessions, "report_ghost", report, "waiting")
    with sessions.begin() as s:
        token = user_store.create_token(s, user_store.create_user(s, "reader", Role.VIEWER, None, T0), T0)[1]
    client = create_app(make_config(tmp_path, url, secret_key="test"), sessions=sessions).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    run = client.get(f"/api/v1/dags/report_ghost/runs/{report}", headers=auth).get_json()
    page = client.get(f"/dags/report_ghost/runs/{report}", headers=auth).get_data(as_text=True)
    reason = "waiting for DAG ghost, which does not exist (yet)"
    assert (run["state"], run["state_reason"], run["waiting_since"]) == ("waiting", reason, "2026-11-23T00:05:00Z")
    assert f'<p class="banner banner-waiting" id="run-reason">{reason}</p>' in page
    assert '<span class="badge s-waiting">waiting</span>' in page


def test_runs_list_shows_a_waiting_run(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    with scheduler(tmp_path, url, Clock(T0)) as sessions:
        report = queue(sessions, "report_ghost", D, T0)
        wait_for_state(sessions, "report_ghost", report, "waiting")
    listed = orch(["runs", "list", "report_ghost", "--json"], cli_env(tmp_path, database_url=url))
    assert listed.returncode == 0, listed.stderr
    assert [(r["run_id"], r["state"]) for r in json.loads(listed.stdout)] == [(report, "waiting")]


# -- cycles -------------------------------------------------------------------------------------------
CYCLE = """
    from datetime import datetime
    from orchestrator import DAG, DagDependency, PythonTask
    from tests.fixtures import succeed

    with DAG("{dag_id}", schedule="@daily", start_date=datetime(2026, 1, 1), depends_on=[{deps}]) as dag:
        PythonTask(task_id="work", python_callable=succeed)
"""


def _cycle_folder(tmp_path: Path, report_deps: str) -> tuple[sessionmaker[Session], Path]:
    folder = tmp_path / "dags"
    write_dag(folder, "etl.py", CYCLE.format(dag_id="etl", deps='DagDependency("report")'))
    write_dag(folder, "report.py", CYCLE.format(dag_id="report", deps=report_deps))
    write_dag(folder, "audit.py", CYCLE.format(dag_id="audit", deps='DagDependency("etl")'))
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    sync_dag_folder(sessions, make_config(tmp_path, url))
    return sessions, folder


def test_a_cross_dag_cycle_is_an_import_error_of_each_file_on_it_and_those_dags_are_not_scheduled(tmp_path: Path) -> None:
    sessions, _ = _cycle_folder(tmp_path, 'DagDependency("etl", mode="latest")')
    with sessions() as s:
        errors = {Path(e.filename).name: e.message for e in s.query(ImportError_)}
        active = {d.dag_id: (d.is_active, d.next_run_at is not None) for d in s.query(Dag)}
    assert errors == {
        "etl.py": "DependencyCycleError: depends_on forms a cycle: etl -> report -> etl; "
        "these DAGs are not scheduled until one of them stops depending on the next",
        "report.py": "DependencyCycleError: depends_on forms a cycle: report -> etl -> report; "
        "these DAGs are not scheduled until one of them stops depending on the next",
    }
    assert active == {"etl": (False, False), "report": (False, False), "audit": (True, True)}


def test_breaking_the_cycle_in_one_file_schedules_both_dags_again(tmp_path: Path) -> None:
    sessions, folder = _cycle_folder(tmp_path, 'DagDependency("etl")')
    write_dag(folder, "report.py", CYCLE.format(dag_id="report", deps=""))
    sync_dag_folder(sessions, make_config(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}"))
    with sessions() as s:
        assert s.query(ImportError_).count() == 0
        assert {d.dag_id for d in s.query(Dag) if d.is_active} == {"etl", "report", "audit"}
