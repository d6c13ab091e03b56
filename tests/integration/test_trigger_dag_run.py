"""TriggerDagRunTask through the real scheduler loop (injected clock, tasks in-process): the child
run, waiting for it, failing with it, clearing, restarts, and the links the API and UI show."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.execution.executor import InProcessExecutor
from orchestrator.store import clearing as clearing_store
from orchestrator.store import dags as dag_store
from orchestrator.store import users as user_store
from orchestrator.store.models import DagRun, Event
from orchestrator.store.users import Role
from webui import create_app

from .harness import SchedulerThread, make_config, task_rows, tries_of, trigger, upgraded_sessions, wait_for_run, wait_until, write_dag

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
CHILD = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import fail_when_asked

    with DAG("child") as dag:
        PythonTask(task_id="work", python_callable=fail_when_asked)
"""
PARENTS = """
    from orchestrator import DAG, PythonTask, TriggerDagRunTask
    from tests.fixtures import succeed

    with DAG("kick_and_go") as go:
        TriggerDagRunTask(task_id="kick", dag_id="child", conf={"who": "parent"}) >> PythonTask(task_id="after", python_callable=succeed)
    with DAG("kick_and_wait") as wait:
        TriggerDagRunTask(task_id="kick", dag_id="child", wait=True)
    with DAG("kick_and_fail") as fail:
        TriggerDagRunTask(task_id="kick", dag_id="child", conf={"fail": True}, wait=True)
    with DAG("kick_ghost") as ghost:
        TriggerDagRunTask(task_id="kick", dag_id="ghost")
    with DAG("kick_between") as between:
        first = PythonTask(task_id="first", python_callable=succeed)
        first >> TriggerDagRunTask(task_id="kick", dag_id="child", wait=True) >> PythonTask(task_id="last", python_callable=succeed)
"""


@pytest.fixture
def store(tmp_path: Path) -> tuple[Config, sessionmaker[Session]]:
    write_dag(tmp_path / "dags", "child.py", CHILD)
    write_dag(tmp_path / "dags", "parents.py", PARENTS)
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    return make_config(tmp_path, url, secret_key="test"), upgraded_sessions(url)


@contextmanager
def scheduler(store: tuple[Config, sessionmaker[Session]]) -> Iterator[SchedulerThread]:
    config, sessions = store
    with SchedulerThread(config, sessions, InProcessExecutor(), clock=lambda: NOW) as running:
        yield running


def children(sessions: sessionmaker[Session], parent_dag_id: str) -> list[DagRun]:
    with sessions() as s:
        return list(s.scalars(select(DagRun).where(DagRun.parent_dag_id == parent_dag_id).order_by(DagRun.run_id)))


def pause_child(sessions: sessionmaker[Session]) -> None:
    with sessions.begin() as s:
        dag_store.set_paused(s, "child", True, NOW, actor="test")


def test_without_wait_the_task_succeeds_once_the_child_run_is_created(store: tuple[Config, sessionmaker[Session]]) -> None:
    _, sessions = store
    with scheduler(store):
        pause_child(sessions)  # the child run cannot start: the parent must not wait for it
        parent = wait_for_run(sessions, "kick_and_go", trigger(sessions, "kick_and_go"))
    [child] = children(sessions, "kick_and_go")
    assert parent.state == "success"
    assert (child.state, child.run_type, child.conf, child.logical_date) == ("queued", "triggered", {"who": "parent"}, NOW)
    assert (child.parent_dag_id, child.parent_run_id, child.parent_task_id) == ("kick_and_go", parent.run_id, "kick")
    assert task_rows(sessions, "kick_and_go", parent.run_id)["kick"].result == {"dag_id": "child", "run_id": child.run_id}


def test_with_wait_the_task_succeeds_once_its_child_run_succeeded(store: tuple[Config, sessionmaker[Session]]) -> None:
    _, sessions = store
    with scheduler(store):
        parent = wait_for_run(sessions, "kick_and_wait", trigger(sessions, "kick_and_wait"))
    [child] = children(sessions, "kick_and_wait")
    with sessions() as s:
        kinds = [(e.dag_id, e.task_id, e.kind) for e in s.scalars(select(Event).order_by(Event.id))]
    assert (parent.state, child.state) == ("success", "success")
    assert kinds.index(("child", None, "run.success")) < kinds.index(("kick_and_wait", "kick", "task.success"))


def test_with_wait_the_task_fails_with_its_child_run_and_names_it(store: tuple[Config, sessionmaker[Session]]) -> None:
    _, sessions = store
    with scheduler(store):
        parent = wait_for_run(sessions, "kick_and_fail", trigger(sessions, "kick_and_fail"))
    [child] = children(sessions, "kick_and_fail")
    [kick] = [t for t in tries_of(sessions, "kick_and_fail", parent.run_id) if t.task_id == "kick"]
    assert (parent.state, child.state, kick.state) == ("failed", "failed", "failed")
    assert kick.error == f"the triggered run {child.run_id} of DAG child ended failed"


def test_an_unknown_target_dag_fails_the_task_with_a_clear_error(store: tuple[Config, sessionmaker[Session]]) -> None:
    _, sessions = store
    with scheduler(store):
        parent = wait_for_run(sessions, "kick_ghost", trigger(sessions, "kick_ghost"))
    [kick] = tries_of(sessions, "kick_ghost", parent.run_id)
    assert (parent.state, kick.error) == ("failed", "there is no DAG 'ghost' to trigger: `orchestrator dags list` shows the known DAGs")


def test_clearing_the_task_triggers_a_new_child_run(store: tuple[Config, sessionmaker[Session]]) -> None:
    _, sessions = store
    with scheduler(store):
        run_id = trigger(sessions, "kick_and_go")
        wait_for_run(sessions, "kick_and_go", run_id)
        with sessions.begin() as s:
            clearing_store.clear_task(s, "kick_and_go", run_id, "kick", downstream=False, now=NOW, actor="test")
        wait_until(lambda: len(children(sessions, "kick_and_go")) == 2, timeout=60, what="a second child run")
        wait_for_run(sessions, "kick_and_go", run_id)
    assert [c.run_id.split(":")[2] for c in children(sessions, "kick_and_go")] == ["1", "2"]  # one child per try


def test_a_waiting_trigger_task_runs_in_the_scheduler_and_holds_no_worker(store: tuple[Config, sessionmaker[Session]]) -> None:
    _, sessions = store
    with scheduler(store) as running:
        pause_child(sessions)
        run_id = trigger(sessions, "kick_and_wait")
        wait_until(lambda: children(sessions, "kick_and_wait"), timeout=60, what="the child run")
        assert running.scheduler.tracker.inflight_keys() == []
    [kick] = tries_of(sessions, "kick_and_wait", run_id)
    assert (kick.state, kick.worker) == ("running", "scheduler")


def test_a_restart_finds_the_child_run_of_the_same_try_instead_of_creating_another(store: tuple[Config, sessionmaker[Session]]) -> None:
    _, sessions = store
    with scheduler(store):
        pause_child(sessions)
        run_id = trigger(sessions, "kick_and_wait")
        wait_until(lambda: children(sessions, "kick_and_wait"), timeout=60, what="the child run")
    with scheduler(store):
        with sessions.begin() as s:
            dag_store.set_paused(s, "child", False, NOW, actor="test")
        parent = wait_for_run(sessions, "kick_and_wait", run_id)
    assert parent.state == "success"
    assert [(c.state, c.run_id.split(":")[2]) for c in children(sessions, "kick_and_wait")] == [("success", "1")]


def test_the_api_and_the_run_page_link_parent_and_child_both_ways(store: tuple[Config, sessionmaker[Session]]) -> None:
    config, sessions = store
    with scheduler(store):
        parent = wait_for_run(sessions, "kick_and_wait", trigger(sessions, "kick_and_wait"))
    [child] = children(sessions, "kick_and_wait")
    with sessions.begin() as s:
        token = user_store.create_token(s, user_store.create_user(s, "reader", Role.VIEWER, None, NOW), NOW)[1]
    client = create_app(config, sessions=sessions).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    parent_json = client.get(f"/api/v1/dags/kick_and_wait/runs/{parent.run_id}", headers=auth).get_json()
    child_json = client.get(f"/api/v1/dags/child/runs/{child.run_id}", headers=auth).get_json()
    listed = client.get("/api/v1/dags/kick_and_wait/runs", headers=auth).get_json()
    assert parent_json["children"] == [{"dag_id": "child", "run_id": child.run_id, "task_id": "kick", "state": "success"}]
    assert (parent_json["parent"], child_json["children"]) == (None, [])
    assert child_json["parent"] == {"dag_id": "kick_and_wait", "run_id": parent.run_id, "task_id": "kick"}
    assert listed["items"][0]["children"] == parent_json["children"]
    page = client.get(f"/dags/child/runs/{child.run_id}", headers=auth).get_data(as_text=True)
    assert f'href="/dags/kick_and_wait/runs/{parent.run_id}"' in page
    # what the parent's run page draws its table of triggered runs from
    page_data = client.get(f"/data/dags/kick_and_wait/runs/{parent.run_id}", headers=auth).get_json()
    assert page_data["run"]["children"] == parent_json["children"]


def test_on_dask_nothing_is_chained_to_a_trigger_task(store: tuple[Config, sessionmaker[Session]], dask_address: str) -> None:
    config, sessions = store
    with SchedulerThread(config, sessions, DaskExecutor(dask_address)):
        run_id = wait_for_run(sessions, "kick_between", trigger(sessions, "kick_between")).run_id
    with sessions() as s:
        kinds = [(e.task_id, e.kind) for e in s.scalars(select(Event).where(Event.run_id == run_id).order_by(Event.id))]
    # Dask chains a task to its in-flight upstreams; the trigger task runs in the scheduler, so its
    # downstream is queued only once it succeeded, and it starts only once its upstream succeeded
    assert kinds.index(("first", "task.success")) < kinds.index(("kick", "task.queued"))
    assert kinds.index(("kick", "task.success")) < kinds.index(("last", "task.queued"))
