"""Replay from the event history: runs of a representative set of DAGs (retries, branches, skips,
mapping, failures, error routing, approvals, a cancel and a clear) go through the real scheduler
loop; each is then rebuilt from its event rows alone and must match its stored rows, through the
store and through `orchestrator runs replay`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.approvals import Decision
from orchestrator.core.config import Config
from orchestrator.execution.executor import InProcessExecutor
from orchestrator.store import approvals as approval_store
from orchestrator.store import clearing as clearing_store
from orchestrator.store import run_history
from orchestrator.store import runs as run_store
from orchestrator.store import users as user_store
from orchestrator.store.models import ApprovalRequest, DagRun, TaskInstance
from orchestrator.store.users import Role

from .harness import SchedulerThread, cli_env, make_config, orch, trigger, upgraded_sessions, wait_for_run, wait_until, write_dag

DAGS = """
    from orchestrator import DAG, ApprovalTask, PythonTask, TriggerRule, task
    from tests.fixtures import (
        always_fail, choose_by_param, numbers, raise_error, routed_error_seen, square, square_flaky_on, succeed, total,
    )

    with DAG("r_retries", default_args={"retries": 2, "retry_delay": 0}) as r_retries:
        PythonTask(task_id="first", python_callable=succeed) >> PythonTask(task_id="flaky", python_callable=always_fail)

    with DAG("r_branch") as r_branch:
        decide = task.branch(choose_by_param)()
        left = PythonTask(task_id="left", python_callable=succeed)
        right = PythonTask(task_id="right", python_callable=succeed)
        join = PythonTask(task_id="join", python_callable=succeed, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        decide >> [left, right] >> join

    with DAG("r_mapping") as r_mapping:
        task(total)(task(square_flaky_on, retries=1, retry_delay=0).partial(flaky=2).expand(x=task(numbers)(3)))

    with DAG("r_routed") as r_routed:
        PythonTask(task_id="risky", python_callable=raise_error, op_kwargs={"kind": "ValueError"},
                   on_failure={"ValueError": "handler"}) >> PythonTask(task_id="after", python_callable=succeed)
        PythonTask(task_id="handler", python_callable=routed_error_seen)

    with DAG("r_approval") as r_approval:
        ApprovalTask(task_id="sign_off", approvers=["alice"]) >> PythonTask(task_id="order", python_callable=succeed)
"""


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[Config, sessionmaker[Session]]]:
    write_dag(tmp_path / "dags", "replayed.py", DAGS)
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    config, sessions = make_config(tmp_path, url), upgraded_sessions(url)
    with sessions.begin() as session:
        user_store.create_user(session, "alice", Role.VIEWER, "pw", datetime.now(UTC))
    with SchedulerThread(config, sessions, InProcessExecutor()):
        yield config, sessions


def _approve_when_asked(sessions: sessionmaker[Session], dag_id: str, run_id: str) -> None:
    def request() -> int | None:
        with sessions() as s:
            return s.scalar(select(ApprovalRequest.id).where(ApprovalRequest.dag_id == dag_id, ApprovalRequest.run_id == run_id))

    request_id = wait_until(request, timeout=60, what="the approval request")
    wait_until(lambda: _task_state(sessions, dag_id, run_id, "sign_off") == "waiting", timeout=60, what="sign_off to wait")
    with sessions.begin() as s:
        approval_store.decide(s, request_id, user_store.get_user(s, "alice"), Decision.APPROVE, None, None, datetime.now(UTC))


def _task_state(sessions: sessionmaker[Session], dag_id: str, run_id: str, task_id: str) -> str | None:
    with sessions() as s:
        return s.scalar(select(TaskInstance.state).where(
            TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id, TaskInstance.map_index == -1))


def _runs(config: Config, sessions: sessionmaker[Session]) -> list[tuple[str, str]]:
    """Runs of every DAG above, each driven to its end (one cancelled, one cleared and run again)."""
    done = []
    for dag_id, conf in [("r_retries", None), ("r_branch", {"follow": "left"}), ("r_branch", {"follow": None}),
                         ("r_mapping", None), ("r_routed", None)]:
        run_id = trigger(sessions, dag_id, conf)
        wait_for_run(sessions, dag_id, run_id)
        done.append((dag_id, run_id))
    approved = trigger(sessions, "r_approval")
    _approve_when_asked(sessions, "r_approval", approved)
    wait_for_run(sessions, "r_approval", approved)
    done.append(("r_approval", approved))
    cancelled = trigger(sessions, "r_approval")
    wait_until(lambda: _task_state(sessions, "r_approval", cancelled, "sign_off") == "waiting", timeout=60, what="sign_off to wait")
    with sessions.begin() as s:
        run_store.cancel_run(s, "r_approval", cancelled, datetime.now(UTC), "test")
    done.append(("r_approval", cancelled))
    cleared = done[0][1]
    with sessions.begin() as s:
        clearing_store.clear_task(s, "r_retries", cleared, "flaky", downstream=False, now=datetime.now(UTC), actor="test")
    wait_until(lambda: _task_state(sessions, "r_retries", cleared, "flaky") == "failed", timeout=60, what="the cleared task to fail again")
    wait_for_run(sessions, "r_retries", cleared)
    return done


def test_every_run_rebuilt_from_its_events_matches_its_stored_rows(world: tuple[Config, sessionmaker[Session]]) -> None:
    config, sessions = world
    runs = _runs(config, sessions)
    with sessions() as s:
        replayed = {key: run_history.replay_run(s, *key) for key in runs}
    assert {key: r.differences for key, r in replayed.items()} == {key: [] for key in runs}
    # what was compared is really there: the retries' tries, the mapped instances, the cancel
    retried = replayed[runs[0]].image.tasks[("flaky", -1)]
    assert (retried.state, retried.try_number) == ("failed", 6)  # 3 tries, cleared, 3 more
    assert {k: v.state for k, v in replayed[runs[3]].image.tasks.items() if k[0] == "square_flaky_on"} == {
        ("square_flaky_on", -1): "success", ("square_flaky_on", 0): "success", ("square_flaky_on", 1): "success",
        ("square_flaky_on", 2): "success",
    }
    assert replayed[runs[6]].image.state == "cancelled"


def test_a_replay_as_of_an_earlier_event_shows_the_run_as_it_stood_then(world: tuple[Config, sessionmaker[Session]]) -> None:
    _, sessions = world
    run_id = trigger(sessions, "r_branch", {"follow": "left"})
    wait_for_run(sessions, "r_branch", run_id)
    with sessions() as s:
        whole = run_history.replay_run(s, "r_branch", run_id)
        first = run_history.replay_run(s, "r_branch", run_id, until=whole.event_ids[0])
    assert (first.image.state, first.image.tasks) == ("queued", {})
    assert whole.image.state == "success"


@pytest.mark.rows_changed_behind_the_log
def test_runs_replay_exits_non_zero_and_prints_what_differs_from_the_stored_rows(
    world: tuple[Config, sessionmaker[Session]], tmp_path: Path,
) -> None:
    config, sessions = world
    run_id = trigger(sessions, "r_branch", {"follow": "left"})
    wait_for_run(sessions, "r_branch", run_id)
    env = cli_env(tmp_path, database_url=config.resolved_database_url, dags_folder=tmp_path / "dags")
    ok = orch(["runs", "replay", "r_branch", run_id, "--json"], env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["differences"] == []
    with sessions.begin() as s:  # a row changed behind the event log's back
        s.execute(update(TaskInstance).where(TaskInstance.run_id == run_id, TaskInstance.task_id == "left").values(state="failed"))
        s.execute(update(DagRun).where(DagRun.run_id == run_id).values(state="failed"))
    bad = orch(["runs", "replay", "r_branch", run_id], env)
    assert bad.returncode == 1
    assert "task left: replayed state success, stored failed" in bad.stderr
    assert "run: replayed state success, stored failed" in bad.stderr
