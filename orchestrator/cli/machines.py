"""State-machine runs on the command line: `runs send-event` and `runs machine`, as the API does
(`POST .../machine/events`, `GET .../machine`). Sending needs trigger permission on the DAG."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from orchestrator.cli.common import (
    CliState,
    cli_actor,
    cli_roles,
    emit_rows,
    handle_errors,
    iso,
    parse_conf,
    pass_state,
    record_audit,
    require_dag,
)
from orchestrator.plugins.listeners import ListenerThread, publishing
from orchestrator.plugins.manager import load_plugins
from orchestrator.store import machines as machine_store
from orchestrator.store.permissions import DagPermission


@click.command("send-event")
@click.argument("dag_id")
@click.argument("run_id")
@click.argument("event")
@click.option("--payload", "payload_raw", metavar="JSON", help="The event's payload, a JSON object (guards read it as `event`).")
@pass_state
@handle_errors
def send_event(state: CliState, dag_id: str, run_id: str, event: str, payload_raw: str | None) -> None:
    """Send EVENT to a state-machine run; exit 1 with the reason when no transition accepts it.
    Guards see the CLI user's role (and those it includes) and DAG roles as `roles`."""
    payload = parse_conf(payload_raw, option="--payload")
    listeners = ListenerThread(load_plugins(state.config))
    try:
        with publishing(state.sessions(), listeners) as session:
            require_dag(session, dag_id, DagPermission.TRIGGER)
            decision = machine_store.send_event(
                session, dag_id, run_id, event, payload, roles=cli_roles(session), actor=cli_actor(),
                now=datetime.now(UTC),
            )
            record_audit(session, "run.machine_event", f"run:{dag_id}/{run_id}", {"event": event})
    finally:
        listeners.close()
    click.echo(f"event {event!r} accepted for run {run_id} of {dag_id}: {decision.reason}")


@click.command("machine")
@click.argument("dag_id")
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print the state, the history and the run data as JSON.")
@pass_state
@handle_errors
def machine(state: CliState, dag_id: str, run_id: str, as_json: bool) -> None:
    """A state-machine run's current state and the states it went through, oldest first."""
    with state.sessions(readonly=True)() as session:
        require_dag(session, dag_id, DagPermission.READ)
        view = machine_store.machine_view(session, dag_id, run_id)
    history = [{"state": h["state"], "from": h["from"], "via": h["via"], "guard": h["guard"], "at": iso(h["at"]), "actor": h["actor"]}
               for h in view.history]
    if as_json:
        click.echo(json.dumps({
            "state": view.state, "finished": view.finished, "awaiting": list(view.awaiting), "sla_missed": view.sla_missed,
            "history": history, "data": view.data,
            "data_changes": [{**c, "at": iso(c["at"])} for c in view.data_changes],
        }, indent=2))
        return
    click.echo(f"run {run_id} of {dag_id}: {view.state or 'not started'}{' (ended)' if view.finished else ''}"
               + (f", awaiting {', '.join(view.awaiting)}" if view.awaiting else ""))
    emit_rows(history, ["state", "from", "via", "guard", "at", "actor"], False)


def register(runs: click.Group) -> None:
    """Add the state-machine commands to the `runs` group."""
    runs.add_command(send_event)
    runs.add_command(machine)
