"""`orchestrator runs`: list a DAG's runs, cancel one, rebuild one from its events. The run controls
(orchestrator.cli.run_controls) and the state-machine commands (orchestrator.cli.machines) join this group."""

from __future__ import annotations

import json
import sys

import click

from orchestrator.cli.common import (
    EXIT_FAILURE,
    CliState,
    cli_actor,
    emit_rows,
    handle_errors,
    iso,
    pass_state,
    record_audit,
    require_dag,
    utcnow,
)
from orchestrator.plugins.listeners import ListenerThread, publishing
from orchestrator.plugins.manager import load_plugins
from orchestrator.store import queries, run_history
from orchestrator.store import runs as run_store
from orchestrator.store.permissions import DagPermission


@click.group()
def runs() -> None:
    """Inspect DAG runs."""


@runs.command("list")
@click.argument("dag_id")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, newest first.")
@click.option("--correlation-id", default=None, help="Only the runs with this business correlation id.")
@pass_state
@handle_errors
def runs_list(state: CliState, dag_id: str, as_json: bool, correlation_id: str | None) -> None:
    """List the runs of DAG_ID, newest first."""
    with state.sessions(readonly=True)() as session:
        queries.get_dag(session, dag_id)
        require_dag(session, dag_id, DagPermission.READ)
        rows = [
            {"run_id": r.run_id, "state": r.state, "logical_date": iso(r.logical_date), "start_date": iso(r.start_date),
             "end_date": iso(r.end_date), "correlation_id": r.correlation_id}
            for r in queries.list_runs(session, dag_id, correlation_id=correlation_id)
        ]
    emit_rows(rows, ["run_id", "state", "logical_date", "start_date", "end_date", "correlation_id"], as_json)


@runs.command("cancel")
@click.argument("dag_id")
@click.argument("run_id")
@pass_state
@handle_errors
def runs_cancel(state: CliState, dag_id: str, run_id: str) -> None:
    """Cancel a queued or running run and its unfinished tasks."""
    listeners = ListenerThread(load_plugins(state.config))
    try:
        with publishing(state.sessions(), listeners) as session:
            require_dag(session, dag_id, DagPermission.TRIGGER)
            run_store.cancel_run(session, dag_id, run_id, utcnow(), cli_actor())
            record_audit(session, "run.cancel", f"run:{dag_id}/{run_id}")
    finally:
        listeners.close()
    click.echo(f"run {run_id} of {dag_id} is cancelled")


@runs.command("replay")
@click.argument("dag_id")
@click.argument("run_id")
@click.option("--until", type=int, default=None, help="Stop at this event id: the run as it stood then (no comparison).")
@click.option("--json", "as_json", is_flag=True, help="Print the rebuilt state and the differences as JSON.")
@pass_state
@handle_errors
def runs_replay(state: CliState, dag_id: str, run_id: str, until: int | None, as_json: bool) -> None:
    """Rebuild RUN_ID's state from its events alone and check it matches the stored rows
    (exit 1, printing the differences, when it does not)."""
    with state.sessions(readonly=True)() as session:
        require_dag(session, dag_id, DagPermission.READ)
        replayed = run_history.replay_run(session, dag_id, run_id, until=until)
    image = replayed.image
    tasks_out = [
        {"task_id": tid, "map_index": index, "state": i.state, "try_number": i.try_number}
        for (tid, index), i in sorted(image.tasks.items())
    ]
    if as_json:
        click.echo(json.dumps({"run_state": image.state, "events": image.events, "event_id": image.event_id, "tasks": tasks_out,
                               "differences": replayed.differences}, indent=2))
    else:
        click.echo(f"run {run_id} of {dag_id}: {image.state} after {image.events} events")
        emit_rows(tasks_out, ["task_id", "map_index", "state", "try_number"], False)
        for line in replayed.differences:
            click.echo(f"differs: {line}", err=True)
    if replayed.differences:
        sys.exit(EXIT_FAILURE)
    if until is None:
        click.echo("the replayed state matches the stored rows", err=True)
