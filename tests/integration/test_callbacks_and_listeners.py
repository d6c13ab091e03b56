"""DAG callbacks through the real scheduler, and listeners hearing `dags test` runs and users'
actions through the API (cancel) once they are committed."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from orchestrator.execution.executor import InProcessExecutor
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store import users as user_store
from orchestrator.store.users import Role
from scheduler import testrun
from webui import create_app

from .harness import SchedulerThread, events_of, make_config, trigger, upgraded_sessions, wait_for_run, wait_until, write_dag

RECORDER = """
    import json
    from orchestrator.plugins.hookspecs import hookimpl

    def _write(event):
        with open({path!r}, "a") as fh:
            fh.write(json.dumps([event.kind, event.task_id, event.to_state, event.actor]) + "\\n")

    @hookimpl
    def orchestrator_on_task_state(event):
        _write(event)

    @hookimpl
    def orchestrator_on_run_state(event):
        _write(event)

    @hookimpl
    def orchestrator_on_dag_state(event):
        _write(event)
"""
CALLBACK_DAG = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import always_fail, succeed

    def note(context):
        with open({path!r}, "a") as fh:
            fh.write(f"{{context.dag_id}} {{context.run_id}} {{context.run_state}}\\n")

    with DAG("called_back", on_success_callback=note, on_failure_callback=note) as dag:
        PythonTask(task_id="one", python_callable=succeed)

    with DAG("called_back_failing", on_failure_callback=note) as failing:
        PythonTask(task_id="one", python_callable=always_fail)
"""
SIMPLE_DAG = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import succeed

    with DAG("simple") as dag:
        PythonTask(task_id="one", python_callable=succeed)
"""


def heard(path: Path) -> list[list[str]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def test_the_scheduler_calls_the_dag_callback_for_how_each_run_ended(tmp_path: Path) -> None:
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'o.db'}")
    called = tmp_path / "called.txt"
    write_dag(config.resolved_dags_folder, "called_back.py", CALLBACK_DAG.format(path=str(called)))
    sessions = upgraded_sessions(config.resolved_database_url)
    with SchedulerThread(config, sessions, InProcessExecutor()):
        ok_run = trigger(sessions, "called_back")
        failed_run = trigger(sessions, "called_back_failing")
        assert wait_for_run(sessions, "called_back", ok_run).state == "success"
        assert wait_for_run(sessions, "called_back_failing", failed_run).state == "failed"
        wait_until(lambda: len(lines(called)) == 2, timeout=30, what="both DAG callbacks to run")
        wait_until(
            lambda: any(e.kind == "callback.success" for e in events_of(sessions, "called_back_failing", failed_run)),
            timeout=30, what="the callback to be recorded",
        )
    assert sorted(lines(called)) == sorted([f"called_back {ok_run} success", f"called_back_failing {failed_run} failed"])
    recorded = [e for e in events_of(sessions, "called_back", ok_run) if e.kind.startswith("callback.")]
    assert [(e.kind, e.payload["callback"]) for e in recorded] == [("callback.success", "on_success_callback")]


def test_a_dag_without_a_callback_for_its_end_gets_no_callback_work(tmp_path: Path) -> None:
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'o.db'}")
    called = tmp_path / "called.txt"
    write_dag(config.resolved_dags_folder, "called_back.py", CALLBACK_DAG.format(path=str(called)).replace(
        'always_fail)', 'succeed)'))
    sessions = upgraded_sessions(config.resolved_database_url)
    sync_dag_folder(sessions, config)
    run_key = testrun.test_run(sessions, config, "called_back_failing", {})  # succeeds; only on_failure is set
    assert not called.exists()
    assert not [e for e in events_of(sessions, "called_back_failing", run_key.run_id) if e.kind.startswith("callback.")]


def test_listeners_hear_a_dags_test_run_and_its_dag_callback_runs(tmp_path: Path) -> None:
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'o.db'}")
    heard_file, called = tmp_path / "heard.jsonl", tmp_path / "called.txt"
    write_dag(config.resolved_plugins_folder, "recorder.py", RECORDER.format(path=str(heard_file)))
    write_dag(config.resolved_dags_folder, "called_back.py", CALLBACK_DAG.format(path=str(called)))
    sessions = upgraded_sessions(config.resolved_database_url)
    sync_dag_folder(sessions, config)
    run_key = testrun.test_run(sessions, config, "called_back", {}, actor="cli:tester")
    changes = heard(heard_file)  # test_run returns after the listeners heard everything
    assert ["run.queued", None, "queued", "cli:tester"] in changes
    assert ["task.success", "one", "success", "scheduler"] in changes
    assert changes[-1] == ["run.success", None, "success", "scheduler"]
    assert lines(called) == [f"called_back {run_key.run_id} success"]


def test_listeners_hear_a_run_cancelled_and_a_dag_paused_through_the_api(tmp_path: Path) -> None:
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'o.db'}", secret_key="test")
    heard_file = tmp_path / "heard.jsonl"
    write_dag(config.resolved_plugins_folder, "recorder.py", RECORDER.format(path=str(heard_file)))
    write_dag(config.resolved_dags_folder, "simple.py", SIMPLE_DAG)
    sessions = upgraded_sessions(config.resolved_database_url)
    sync_dag_folder(sessions, config)
    run_id = trigger(sessions, "simple")  # no scheduler: the run stays queued until cancelled
    with sessions.begin() as s:
        token = user_store.create_token(s, user_store.create_user(s, "op", Role.OPERATOR, None, datetime.now(UTC)), datetime.now(UTC))[1]
    client = create_app(config, sessions=sessions).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post(f"/api/v1/dags/simple/runs/{run_id}/cancel", headers=auth).status_code == 200
    assert client.patch("/api/v1/dags/simple", headers=auth, json={"is_paused": True}).status_code == 200
    wait_until(lambda: len(heard(heard_file)) >= 2, timeout=10, what="the listeners to hear the user's actions")
    assert heard(heard_file) == [["run.cancelled", None, "cancelled", "op"], ["dag.paused", None, None, "op"]]


def test_a_refused_action_publishes_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'o.db'}", secret_key="test")
    heard_file = tmp_path / "heard.jsonl"
    write_dag(config.resolved_plugins_folder, "recorder.py", RECORDER.format(path=str(heard_file)))
    write_dag(config.resolved_dags_folder, "simple.py", SIMPLE_DAG)
    sessions = upgraded_sessions(config.resolved_database_url)
    sync_dag_folder(sessions, config)
    run_key = testrun.test_run(sessions, config, "simple", {})
    before = heard(heard_file)
    with sessions.begin() as s:
        token = user_store.create_token(s, user_store.create_user(s, "op", Role.OPERATOR, None, datetime.now(UTC)), datetime.now(UTC))[1]
    client = create_app(config, sessions=sessions).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post(f"/api/v1/dags/simple/runs/{run_key.run_id}/cancel", headers=auth).status_code == 409  # it ended
    # an action that commits afterwards: once it is heard, anything the refused one published would be too
    assert client.patch("/api/v1/dags/simple", headers=auth, json={"is_paused": True}).status_code == 200
    wait_until(lambda: len(heard(heard_file)) > len(before), timeout=10, what="the listeners to hear the pause")
    assert heard(heard_file) == [*before, ["dag.paused", None, None, "op"]]
