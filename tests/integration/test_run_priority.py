"""Run priority end to end: set by `orchestrator dags trigger --priority`, the API and named
schedules; a real `orchestrator scheduler` process with one Dask worker thread runs the ready
tasks of the higher-priority run first."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from flask.testing import FlaskClient

from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store import users as user_store
from orchestrator.store.models import DagRun
from orchestrator.store.users import Role
from scheduler.cron import create_named_schedule_runs
from webui import create_app

from .harness import SchedulerProcess, cli_env, make_config, orch, upgraded_sessions, wait_for_run, write_dag

WIDE = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import append_line

    for dag_id in ("low", "high"):
        with DAG(dag_id) as dag:
            for tid in ("a", "b", "c"):
                PythonTask(task_id=tid, python_callable=append_line, op_args=[{side!r}, f"{{dag_id}}_{{tid}}", 0.2])
        globals()[dag_id] = dag

    from orchestrator import TriggerDagRunTask

    with DAG("parent") as parent:
        TriggerDagRunTask(task_id="kick", dag_id="low", wait=True)
"""
T0 = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _home(tmp_path: Path) -> tuple[dict[str, str], Path]:
    side = tmp_path / "started.txt"
    write_dag(tmp_path / "dags", "wide.py", WIDE.format(side=str(side)))
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    sync_dag_folder(upgraded_sessions(url), make_config(tmp_path, url))
    return cli_env(tmp_path, dask_workers=1, dask_threads_per_worker=1), side


def test_the_higher_priority_run_s_tasks_run_first_though_it_was_triggered_last(tmp_path: Path) -> None:
    env, side = _home(tmp_path)
    low = orch(["dags", "trigger", "low", "--priority", "-5"], env)
    high = orch(["dags", "trigger", "high", "--priority", "10"], env)
    assert (low.returncode, high.returncode) == (0, 0), low.stderr + high.stderr
    sessions = upgraded_sessions(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    scheduler = SchedulerProcess(env, tmp_path / "scheduler.log").start()
    try:
        for dag_id, run in (("low", low), ("high", high)):
            assert wait_for_run(sessions, dag_id, run.stdout.strip(), timeout=120).state == "success", scheduler.log()[-3000:]
    finally:
        scheduler.cleanup()
    started = side.read_text().split()
    assert sorted(started[:3]) == ["high_a", "high_b", "high_c"], started
    with sessions() as s:
        assert [s.get(DagRun, (d, r.stdout.strip())).priority for d, r in (("low", low), ("high", high))] == [-5, 10]


def test_the_cli_refuses_a_priority_out_of_range(tmp_path: Path) -> None:
    env, _ = _home(tmp_path)
    refused = orch(["dags", "trigger", "low", "--priority", "5000"], env)
    assert refused.returncode == 2 and "--priority" in refused.stderr


def _client(tmp_path: Path) -> tuple[FlaskClient, dict[str, str]]:
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    with sessions.begin() as s:
        token = user_store.create_token(s, user_store.create_user(s, "ops", Role.ADMIN, None, T0), T0)[1]
    return create_app(make_config(tmp_path, url, secret_key="test"), sessions=sessions).test_client(), {"Authorization": f"Bearer {token}"}


def test_the_api_triggers_a_run_with_a_priority_and_shows_it(tmp_path: Path) -> None:
    _home(tmp_path)
    client, auth = _client(tmp_path)
    made = client.post("/api/v1/dags/high/runs", json={"priority": 7}, headers=auth)
    assert (made.status_code, made.get_json()["priority"]) == (201, 7)
    too_high = client.post("/api/v1/dags/high/runs", json={"priority": 1001}, headers=auth)
    assert (too_high.status_code, too_high.get_json()["error"]["details"][0]["loc"]) == (422, ["body", "priority"])


def test_a_named_schedule_s_runs_take_its_priority(tmp_path: Path) -> None:
    env, _ = _home(tmp_path)
    made = orch(["schedules", "create", "urgent", "--dag", "high", "--cron", "@hourly", "--priority", "3"], env)
    assert made.returncode == 0, made.stderr
    sessions = upgraded_sessions(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    with sessions.begin() as s:
        assert create_named_schedule_runs(s, datetime.now(UTC).replace(year=2100)) == 1
    with sessions() as s:
        assert [r.priority for r in s.query(DagRun).filter_by(dag_id="high")] == [3]


def test_a_sub_workflow_run_takes_the_priority_of_the_run_that_started_it(tmp_path: Path) -> None:
    env, _ = _home(tmp_path)
    parent = orch(["dags", "trigger", "parent", "--priority", "4"], env)
    assert parent.returncode == 0, parent.stderr
    sessions = upgraded_sessions(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    scheduler = SchedulerProcess(env, tmp_path / "scheduler.log").start()
    try:
        assert wait_for_run(sessions, "parent", parent.stdout.strip(), timeout=120).state == "success", scheduler.log()[-3000:]
    finally:
        scheduler.cleanup()
    with sessions() as s:
        assert [(r.run_type, r.priority) for r in s.query(DagRun).filter_by(dag_id="low")] == [("triggered", 4)]
