"""`orchestrator tasks`: a run's task instances, a try's log, and clearing finished tasks to run again.
The task marks (orchestrator.cli.run_controls), dead letters and retries (orchestrator.cli.resilience) join this group."""

from __future__ import annotations

import click

from orchestrator.cli.common import CliState, cli_actor, emit_rows, handle_errors, iso, pass_state, record_audit, require_dag, utcnow
from orchestrator.plugins.listeners import ListenerThread, publishing
from orchestrator.plugins.log_store import LogStores
from orchestrator.plugins.manager import load_plugins
from orchestrator.store import clearing as clearing_store
from orchestrator.store import queries
from orchestrator.store.permissions import DagPermission


@click.group()
def tasks() -> None:
    """Inspect task instances and their logs; clear them to run again."""


@tasks.command("clear")
@click.argument("dag_id")
@click.argument("run_id")
@click.argument("task_id")
@click.option("--downstream/--no-downstream", default=True, show_default=True, help="Also every task after it.")
@pass_state
@handle_errors
def tasks_clear(state: CliState, dag_id: str, run_id: str, task_id: str, downstream: bool) -> None:
    """Run a finished task of a run again (and, by default, the tasks after it)."""
    listeners = ListenerThread(load_plugins(state.config))
    try:
        with publishing(state.sessions(), listeners) as session:
            require_dag(session, dag_id, DagPermission.TRIGGER)
            cleared = clearing_store.clear_task(session, dag_id, run_id, task_id, downstream=downstream, now=utcnow(), actor=cli_actor())
            record_audit(session, "task.clear", f"task:{dag_id}/{run_id}/{task_id}", {"downstream": downstream, "cleared": cleared})
    finally:
        listeners.close()
    click.echo(f"queued again: {', '.join(cleared)}")


@tasks.command("list")
@click.argument("dag_id")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_state
@handle_errors
def tasks_list(state: CliState, dag_id: str, run_id: str, as_json: bool) -> None:
    """List the task instances of one run."""
    with state.sessions(readonly=True)() as session:
        require_dag(session, dag_id, DagPermission.READ)
        rows = [
            {
                "task_id": t.task_id, "map_index": t.map_index, "state": t.state, "try_number": t.try_number,
                "start_date": iso(t.start_date), "end_date": iso(t.end_date),
            }
            for t in queries.list_task_instances(session, dag_id, run_id)
        ]
    emit_rows(rows, ["task_id", "map_index", "state", "try_number", "start_date", "end_date"], as_json)


@tasks.command("logs")
@click.argument("dag_id")
@click.argument("run_id")
@click.argument("task_id")
@click.option("--try", "try_number", type=click.IntRange(min=1), help="Which try (default: the latest).")
@click.option("--map-index", type=click.IntRange(min=-1), default=-1, show_default=True, help="One instance of a mapped task.")
@pass_state
@handle_errors
def tasks_logs(state: CliState, dag_id: str, run_id: str, task_id: str, try_number: int | None, map_index: int) -> None:
    """Print the log of one try of a task (or of one instance of a mapped task)."""
    with state.sessions(readonly=True)() as session:
        require_dag(session, dag_id, DagPermission.READ)
        row = queries.get_try(session, dag_id, run_id, task_id, try_number, map_index=map_index)
    where = f"{task_id}[{map_index}]" if map_index >= 0 else task_id
    click.echo(f"--- {dag_id} / {run_id} / {where} try {row.try_number}: {row.state} on {row.worker or '?'}", err=True)
    text = LogStores.configured(state.config).text(row)
    click.echo(text, nl=not text.endswith("\n"))
    if row.error and row.state != "success":
        click.echo(f"--- error: {row.error}", err=True)
