"""Run controls on the command line: `runs mark-success|mark-failed|pause|resume|late` and
`tasks mark-success|mark-failed`, each audited as `cli:<os user>` and honouring DAG roles
(marks need edit on the DAG, pause and resume trigger), as the API's buttons do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.cli.common import (
    CliState,
    cli_access,
    cli_actor,
    emit_rows,
    handle_errors,
    iso,
    pass_state,
    readable,
    record_audit,
    require_dag,
)
from orchestrator.core.states import RunState, TaskState
from orchestrator.plugins.listeners import ListenerThread, publishing
from orchestrator.plugins.manager import load_plugins
from orchestrator.store import late as late_store
from orchestrator.store import run_controls
from orchestrator.store.models import Dag
from orchestrator.store.permissions import DagPermission


def _act(state: CliState, dag_id: str, needed: DagPermission, action: Callable[[Session], Any]) -> Any:
    """Run `action` in one transaction after the permission check; the plugins' listeners hear it."""
    listeners = ListenerThread(load_plugins(state.config))
    try:
        with publishing(state.sessions(), listeners) as session:
            require_dag(session, dag_id, needed)
            return action(session)
    finally:
        listeners.close()


def _mark_run_command(to: RunState) -> click.Command:
    @click.command(f"mark-{to.value}")
    @click.argument("dag_id")
    @click.argument("run_id")
    @pass_state
    @handle_errors
    def command(state: CliState, dag_id: str, run_id: str) -> None:
        def mark(session: Session) -> int:
            marks = run_controls.mark_run(session, dag_id, run_id, to, now=datetime.now(UTC), actor=cli_actor())
            record_audit(session, f"run.mark_{to.value}", f"run:{dag_id}/{run_id}", {"tasks": len(marks)})
            return len(marks)

        count = _act(state, dag_id, DagPermission.EDIT, mark)
        click.echo(f"run {run_id} of {dag_id} is marked {to.value} ({count} unfinished tasks set)")

    command.help = (
        f"Mark a run {to.value} with its unfinished tasks "
        + ("(all success)." if to is RunState.SUCCESS else "(started ones failed, the others skipped); its work in flight stops.")
    )
    return command


def _mark_task_command(to: TaskState) -> click.Command:
    @click.command(f"mark-{to.value}")
    @click.argument("dag_id")
    @click.argument("run_id")
    @click.argument("task_id")
    @pass_state
    @handle_errors
    def command(state: CliState, dag_id: str, run_id: str, task_id: str) -> None:
        def mark(session: Session) -> list[str]:
            marks = run_controls.mark_task(session, dag_id, run_id, task_id, to, now=datetime.now(UTC), actor=cli_actor())
            record_audit(session, f"task.mark_{to.value}", f"task:{dag_id}/{run_id}/{task_id}")
            return [f"{m.task_id}{f'[{m.map_index}]' if m.map_index >= 0 else ''} -> {m.to.value}" for m in marks]

        for line in _act(state, dag_id, DagPermission.EDIT, mark):
            click.echo(line)

    command.help = f"Mark a task {to.value}; the tasks after it follow their trigger rules."
    return command


def _pause_command(paused: bool) -> click.Command:
    @click.command("pause" if paused else "resume")
    @click.argument("dag_id")
    @click.argument("run_id")
    @pass_state
    @handle_errors
    def command(state: CliState, dag_id: str, run_id: str) -> None:
        def act(session: Session) -> None:
            run_controls.set_run_paused(session, dag_id, run_id, paused, now=datetime.now(UTC), actor=cli_actor())
            record_audit(session, "run.pause" if paused else "run.resume", f"run:{dag_id}/{run_id}")

        _act(state, dag_id, DagPermission.TRIGGER, act)
        click.echo(f"run {run_id} of {dag_id} is {'paused' if paused else 'resumed'}")

    command.help = (
        "Pause one run: no new work is dispatched for it; work in flight finishes." if paused else "Resume a paused run."
    )
    return command


@click.command("late")
@click.option("--dag", "dag_id", help="Only this DAG's misses.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, newest miss first.")
@pass_state
@handle_errors
def late(state: CliState, dag_id: str | None, limit: int, as_json: bool) -> None:
    """Runs and tasks that missed their deadline, newest first, with their state now."""
    with state.sessions(readonly=True)() as session:
        among = {d.dag_id for d in readable(session, session.scalars(select(Dag)))} if cli_access(session).restricted else None
        rows, _total = late_store.late_page(session, dag_id=dag_id, among=among, limit=limit)
    emit_rows(
        [
            {"dag_id": r.dag_id, "run_id": r.run_id, "task_id": r.task_id, "deadline": (r.payload or {}).get("deadline"),
             "missed_at": iso(r.at), "run_state": r.run_state, "task_state": r.task_state}
            for r in rows
        ],
        ["dag_id", "run_id", "task_id", "deadline", "missed_at", "run_state"], as_json,
    )


def register(runs: click.Group, tasks: click.Group) -> None:
    """Add the run controls to the `runs` and `tasks` groups."""
    for command in (_mark_run_command(RunState.SUCCESS), _mark_run_command(RunState.FAILED), _pause_command(True), _pause_command(False), late):
        runs.add_command(command)
    for command in (_mark_task_command(TaskState.SUCCESS), _mark_task_command(TaskState.FAILED)):
        tasks.add_command(command)
