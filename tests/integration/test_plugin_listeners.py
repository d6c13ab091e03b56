"""Listener plugins from the plugins folder hear committed state changes from the real scheduler,
and a failing listener neither stops the others nor the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.core.errors import PluginError
from orchestrator.execution.executor import InProcessExecutor

from .harness import SchedulerThread, make_config, trigger, upgraded_sessions, wait_for_run, wait_until, write_dag

RECORDER = """
    import json
    from orchestrator.plugins.hookspecs import hookimpl

    def _write(event):
        with open({path!r}, "a") as fh:
            fh.write(json.dumps([event.kind, event.task_id, event.to_state]) + "\\n")

    @hookimpl
    def orchestrator_on_task_state(event):
        _write(event)

    @hookimpl
    def orchestrator_on_run_state(event):
        _write(event)
"""
FAILING = """
    from orchestrator.plugins.hookspecs import hookimpl

    @hookimpl
    def orchestrator_on_task_state(event):
        raise RuntimeError("a listener with a bug")
"""
DAG = """
    from orchestrator import DAG, ShellTask
    with DAG("listened") as dag:
        ShellTask(task_id="one", command="echo 1") >> ShellTask(task_id="two", command="echo 2")
"""


def heard(path: Path) -> list[list[str]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_listeners_hear_every_committed_change_despite_a_failing_listener(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'o.db'}")
    events_file = tmp_path / "heard.jsonl"
    # "a_failing" sorts (and registers) first, so its error comes before the recorder is called
    write_dag(config.resolved_plugins_folder, "a_failing.py", FAILING)
    write_dag(config.resolved_plugins_folder, "recorder.py", RECORDER.format(path=str(events_file)))
    write_dag(config.resolved_dags_folder, "listened.py", DAG)
    sessions = upgraded_sessions(config.resolved_database_url)
    with SchedulerThread(config, sessions, InProcessExecutor()):
        run_id = trigger(sessions, "listened")
        assert wait_for_run(sessions, "listened", run_id).state == "success"
        wait_until(lambda: ["run.success", None, "success"] in heard(events_file), timeout=10, what="the listener to hear the run end")
    changes = heard(events_file)
    assert ["task.success", "one", "success"] in changes and ["task.success", "two", "success"] in changes
    assert changes.index(["task.success", "one", "success"]) < changes.index(["task.success", "two", "success"])
    assert "RuntimeError: a listener with a bug" in caplog.text


def test_the_scheduler_refuses_to_start_when_two_plugins_register_one_step_type(tmp_path: Path) -> None:
    from scheduler.service import Scheduler

    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'o.db'}")
    write_dag(config.resolved_plugins_folder, "my_shell.py", """
        from orchestrator import BaseTask
        from orchestrator.plugins.hookspecs import hookimpl

        class MyShell(BaseTask):
            step_type = "shell"

        @hookimpl
        def orchestrator_step_types():
            return [MyShell]
    """)
    with pytest.raises(PluginError, match="step type 'shell' is registered twice"):
        Scheduler(config, upgraded_sessions(config.resolved_database_url), InProcessExecutor())
