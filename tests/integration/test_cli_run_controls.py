"""Run controls on the command line: marks, pause and resume, the Late list; audited as
`cli:<os user>` and refused where the user's DAG roles do not allow them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from orchestrator.store import events
from orchestrator.store.models import DagRun, TaskInstance
from orchestrator.store.permissions import DagPermission, Grant
from scheduler import testrun

from .harness import make_config, trigger
from .test_cli_audit import OS_USER, Cli, _restrict, cli  # noqa: F401 - the fixture


def _failed_run(cli: Cli) -> str:
    return testrun.test_run(cli.sessions, make_config(cli.home, f"sqlite:///{cli.home / 'orchestrator.db'}"), "other", {}).run_id


def test_tasks_mark_success_sets_the_task_and_queues_its_finished_run_audited(cli: Cli) -> None:
    run_id = _failed_run(cli)
    result = cli("tasks", "mark-success", "other", run_id, "boom")
    assert result.exit_code == 0, result.output
    assert "boom -> success" in result.output
    with cli.sessions() as s:
        assert s.get(TaskInstance, ("other", run_id, "boom", -1)).state == "success"
        assert s.get(DagRun, ("other", run_id)).state == "queued"
    assert [(e.actor, e.action, e.target) for e in cli.audit()] == [(f"cli:{OS_USER}", "task.mark_success", f"task:other/{run_id}/boom")]


def test_runs_mark_failed_ends_a_queued_run_audited(cli: Cli) -> None:
    run_id = trigger(cli.sessions, "daily")
    result = cli("runs", "mark-failed", "daily", run_id)
    assert result.exit_code == 0, result.output
    with cli.sessions() as s:
        assert s.get(DagRun, ("daily", run_id)).state == "failed"
    assert [(e.actor, e.action) for e in cli.audit()] == [(f"cli:{OS_USER}", "run.mark_failed")]


def test_runs_pause_and_resume_are_audited_and_a_second_pause_is_refused(cli: Cli) -> None:
    run_id = trigger(cli.sessions, "daily")
    assert cli("runs", "pause", "daily", run_id).exit_code == 0
    again = cli("runs", "pause", "daily", run_id)
    assert again.exit_code != 0 and "paused already" in again.output
    assert cli("runs", "resume", "daily", run_id).exit_code == 0
    assert [e.action for e in cli.audit()] == ["run.pause", "run.resume"]


def test_a_store_user_with_trigger_only_may_pause_but_not_mark(cli: Cli) -> None:
    _restrict(cli, "carol", Grant(DagPermission.TRIGGER, tag="finance"))
    run_id = trigger(cli.sessions, "daily")
    refused = cli("runs", "mark-success", "daily", run_id, os_user="carol")
    assert refused.exit_code == 1 and "edit" in refused.output
    assert cli("runs", "pause", "daily", run_id, os_user="carol").exit_code == 0


def test_runs_late_lists_the_misses_newest_first(cli: Cli) -> None:
    now = datetime.now(UTC)
    with cli.sessions.begin() as s:
        events.append(s, [
            events.deadline_missed("daily", "r1", now - timedelta(minutes=2)),
            events.deadline_missed("other", "r2", now - timedelta(minutes=1), task_id="boom"),
        ])
    result = cli("runs", "late", "--json")
    assert result.exit_code == 0, result.output
    assert [(r["dag_id"], r["task_id"]) for r in json.loads(result.output)] == [("other", "boom"), ("daily", None)]
