"""`orchestrator circuits ...`, `orchestrator pools ...`, `orchestrator tasks dead-letters|retry`."""

from __future__ import annotations

import click

from orchestrator.cli.common import CliState, cli_actor, emit_rows, handle_errors, iso, pass_state, record_audit, require_dag, utcnow
from orchestrator.core.errors import ConflictError
from orchestrator.store import circuits as circuit_store
from orchestrator.store import deadletters
from orchestrator.store import pools as pool_store
from orchestrator.store.permissions import DagPermission


@click.group()
def circuits() -> None:
    """Circuit breakers: one per connection (or step type), shared by every scheduler."""


@circuits.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_state
@handle_errors
def circuits_list(state: CliState, as_json: bool) -> None:
    """List the breakers with their state."""
    with state.sessions(readonly=True)() as session:
        rows = [
            {"key": r.key, "state": r.state, "consecutive_failures": r.consecutive_failures, "opened_at": iso(r.opened_at),
             "probe": r.probe, "updated_at": iso(r.updated_at)}
            for r in circuit_store.list_rows(session)
        ]
    emit_rows(rows, ["key", "state", "consecutive_failures", "opened_at", "probe"], as_json)


@circuits.command("reset")
@click.argument("key")
@pass_state
@handle_errors
def circuits_reset(state: CliState, key: str) -> None:
    """Close breaker KEY by hand (its waiting tasks run at the next poll)."""
    now = utcnow()
    with state.sessions().begin() as session:
        circuit_store.reset_breaker(session, key, now, actor=cli_actor())
        record_audit(session, "circuit.reset", f"circuit:{key}")
    click.echo(f"circuit {key} is closed")


@click.group()
def pools() -> None:
    """Pools: named slots that limit how many tasks using them run at once, across DAGs."""


@pools.command("set")
@click.argument("name")
@click.argument("slots", type=click.IntRange(min=0))
@click.option("--description")
@pass_state
@handle_errors
def pools_set(state: CliState, name: str, slots: int, description: str | None) -> None:
    """Create pool NAME or change its SLOTS."""
    now = utcnow()
    with state.sessions().begin() as session:
        try:
            pool_store.set_pool(session, name, slots, now, actor=cli_actor(), description=description)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from None
        record_audit(session, "pool.set", f"pool:{name}", {"slots": slots})
    click.echo(f"pool {name} has {slots} slots")


@pools.command("delete")
@click.argument("name")
@pass_state
@handle_errors
def pools_delete(state: CliState, name: str) -> None:
    """Delete pool NAME (tasks that use it wait until a pool of that name is set again)."""
    now = utcnow()
    with state.sessions().begin() as session:
        pool_store.delete_pool(session, name, now, actor=cli_actor())
        record_audit(session, "pool.deleted", f"pool:{name}")
    click.echo(f"pool {name} is deleted")


@pools.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_state
@handle_errors
def pools_list(state: CliState, as_json: bool) -> None:
    """List the pools."""
    with state.sessions(readonly=True)() as session:
        rows = [{"name": p.name, "slots": p.slots, "description": p.description} for p in pool_store.list_pools(session)]
    emit_rows(rows, ["name", "slots", "description"], as_json)


@click.command("dead-letters")
@click.option("--dag", "dag_id", help="Only this DAG's.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_state
@handle_errors
def dead_letters(state: CliState, dag_id: str | None, as_json: bool) -> None:
    """List tasks that failed after their last try, newest first."""
    with state.sessions(readonly=True)() as session:
        items, _total = deadletters.list_dead_letters(session, dag_id, limit=10_000)
    rows = [
        {"dag_id": d.dag_id, "run_id": d.run_id, "task_id": d.task_id, "tries": d.try_number, "end_date": iso(d.end_date), "error": d.error}
        for d in items
    ]
    emit_rows(rows, ["dag_id", "run_id", "task_id", "tries", "end_date", "error"], as_json)


@click.command("retry")
@click.argument("dag_id")
@click.argument("run_id")
@click.argument("task_id")
@pass_state
@handle_errors
def retry(state: CliState, dag_id: str, run_id: str, task_id: str) -> None:
    """Run a dead-lettered task again, with fresh retries (its downstream too)."""
    now = utcnow()
    with state.sessions().begin() as session:
        require_dag(session, dag_id, DagPermission.TRIGGER)
        try:
            cleared = deadletters.retry_dead_letter(session, dag_id, run_id, task_id, now=now, actor=cli_actor())
        except ConflictError as exc:
            raise click.ClickException(str(exc)) from None
        record_audit(session, "task.retry", f"task:{dag_id}/{run_id}/{task_id}", {"cleared": cleared})
    click.echo(f"queued again: {', '.join(cleared)}")
