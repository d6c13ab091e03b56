"""Simulation against the real thing: the same DAG run by the scheduler on a Dask LocalCluster and
simulated (CLI and API) with the outcomes its tasks really have must agree on every task's
state and tries, the tries taken, and the run's final state."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.store import users as user_store
from orchestrator.store.models import TaskInstance, TaskTry
from orchestrator.store.users import Role
from webui import create_app

from .harness import SchedulerThread, cli_env, make_config, orch, run_row, trigger, upgraded_sessions, wait_for_run, write_dag

DAGS = """
    from orchestrator import DAG, PythonTask, TriggerRule, task
    from tests.fixtures import always_fail, choose_by_param, fail_on_first_try, numbers, raise_error, routed_error_seen, square, succeed

    with DAG("simulated", default_args={"retry_delay": 0}) as simulated:
        flaky = PythonTask(task_id="flaky", python_callable=fail_on_first_try, retries=2)
        decide = task.branch(choose_by_param)()
        left = PythonTask(task_id="left", python_callable=succeed)
        right = PythonTask(task_id="right", python_callable=succeed)
        join = PythonTask(task_id="join", python_callable=succeed, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        flaky >> decide >> [left, right] >> join
        squares = task(square).map(task(numbers)(3))
        risky = PythonTask(task_id="risky", python_callable=raise_error, op_kwargs={"kind": "ValueError"}, retries=1,
                           on_failure={"ValueError": "handler"})
        PythonTask(task_id="handler", python_callable=routed_error_seen)
        doomed = PythonTask(task_id="doomed", python_callable=always_fail, retries=1)
        join >> risky
        squares >> doomed >> PythonTask(task_id="never", python_callable=succeed)
"""

OUTCOMES = {
    "tasks": {
        "flaky": [{"status": "failed", "error_type": "RuntimeError"}, {"status": "success"}],
        "choose_by_param": {"follow": ["left"]},
        "numbers": {"result": [0, 1, 2]},
        "risky": {"status": "failed", "error_type": "ValueError", "error_bases": ["Exception"]},
        "doomed": {"status": "failed", "error_type": "RuntimeError"},
    }
}
CONF = {"follow": "left"}


def _real(sessions: sessionmaker[Session], run_id: str) -> tuple[dict[str, Any], Counter[tuple[str, int]]]:
    """Each task's (state, try_number) with its instances', and the tries taken, of a real run."""
    with sessions() as s:
        rows = s.scalars(select(TaskInstance).where(TaskInstance.run_id == run_id)).all()
        tries = s.scalars(select(TaskTry).where(TaskTry.run_id == run_id)).all()
        tasks = {r.task_id: {"state": r.state, "try_number": r.try_number} for r in rows if r.map_index < 0}
        for r in sorted((r for r in rows if r.map_index >= 0), key=lambda r: r.map_index):
            tasks[r.task_id].setdefault("instances", []).append({"state": r.state, "try_number": r.try_number})
        return tasks, Counter((t.task_id, t.try_number) for t in tries)


def _simulated(sim: dict[str, Any]) -> tuple[dict[str, Any], Counter[tuple[str, int]]]:
    tasks = {tid: {k: v for k, v in t.items() if k in ("state", "try_number", "instances") and v != []} for tid, t in sim["tasks"].items()}
    return tasks, Counter((p["task_id"], p["try_number"]) for p in sim["path"])


@pytest.mark.slow
def test_a_simulation_agrees_with_a_real_run_on_dask_given_the_same_outcomes(dask_address: str, tmp_path: Path) -> None:
    write_dag(tmp_path / "dags", "simulated.py", DAGS)
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    config, sessions = make_config(tmp_path, url), upgraded_sessions(url)
    with SchedulerThread(config, sessions, DaskExecutor(dask_address)):
        run_id = trigger(sessions, "simulated", CONF)
        wait_for_run(sessions, "simulated", run_id, timeout=120)
    real_tasks, real_tries = _real(sessions, run_id)
    (tmp_path / "outcomes.yaml").write_text(json.dumps(OUTCOMES))
    env = cli_env(tmp_path, database_url=url)
    cli = orch(["dags", "simulate", "simulated", "--outcomes", str(tmp_path / "outcomes.yaml"), "--conf", json.dumps(CONF), "--json"], env)
    assert cli.returncode == 1, cli.stderr  # the run fails, as the real one did
    sim = json.loads(cli.stdout)
    assert _simulated(sim) == (real_tasks, real_tries)
    assert sim["state"] == run_row(sessions, "simulated", run_id).state == "failed"
    assert [(r["task_id"], r["try_number"]) for r in sim["retries"]] == [("flaky", 1), ("doomed", 1), ("risky", 1)]

    with sessions.begin() as s:
        now = run_row(sessions, "simulated", run_id).queued_at
        token = user_store.create_token(s, user_store.create_user(s, "viewer", Role.VIEWER, "pw-viewer-1", now), now)[1]
    client = create_app(make_config(tmp_path, url)).test_client()
    answer = client.post("/api/v1/dags/simulated/simulate", json={"conf": CONF, "outcomes": OUTCOMES},
                         headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.get_json()
    assert _simulated(answer.get_json()) == (real_tasks, real_tries)
