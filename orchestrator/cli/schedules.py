"""`orchestrator schedules ...`: named schedules beyond a DAG's own, every change audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from orchestrator.cli.common import CliState, audited, emit_rows, handle_errors, parse_conf, pass_state, readable_dag_ids, require_dag, utcnow
from orchestrator.store import schedules as schedule_store
from orchestrator.store.permissions import DagPermission


def _change(state: CliState, action: str, name: str, details: dict[str, Any] | None, fn: Any, dag_id: str | None = None) -> None:
    """Run one store write and its audit entry in one transaction, if the CLI user may edit the
    schedule's DAG (`dag_id`, or that of the existing schedule NAME)."""
    with audited(state, action, f"schedule:{name}", details) as session:
        require_dag(session, dag_id or schedule_store.get(session, name).dag_id, DagPermission.EDIT)
        fn(session, utcnow())


@click.group()
def schedules() -> None:
    """Named schedules: extra cron schedules of a DAG, each with its own time zone and conf."""


@schedules.command("create")
@click.argument("name")
@click.option("--dag", "dag_id", required=True, help="The DAG to run.")
@click.option("--cron", required=True, help="A cron expression or preset such as @daily.")
@click.option("--timezone", default="UTC", show_default=True, help="IANA zone the cron is read in.")
@click.option("--conf", help="The runs' conf, a JSON object.")
@click.option("--start", type=click.DateTime(), help="No interval before this (wall time in --timezone).")
@click.option("--end", type=click.DateTime(), help="No interval after this (wall time in --timezone).")
@click.option("--priority", type=int, default=0, show_default=True, help="The priority of its runs: their ready tasks go first.")
@pass_state
@handle_errors
def create(
    state: CliState, name: str, dag_id: str, cron: str, timezone: str, conf: str | None, start: datetime | None, end: datetime | None,
    priority: int,
) -> None:
    """Create schedule NAME."""
    values = parse_conf(conf)
    _change(state, "schedule.create", name, {"dag_id": dag_id, "cron": cron, "timezone": timezone}, lambda s, now: schedule_store.create(
        s, name, dag_id, cron, now, timezone=timezone, conf=values, start_date=start, end_date=end, priority=priority), dag_id=dag_id)
    click.echo(f"schedule {name} created")


@schedules.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_state
@handle_errors
def list_(state: CliState, as_json: bool) -> None:
    """List the named schedules."""
    with state.sessions(readonly=True)() as session:
        shown = readable_dag_ids(session)
        rows = [schedule_store.as_dict(r) for r in schedule_store.list_all(session) if shown is None or r.dag_id in shown]
    emit_rows(rows, ["name", "dag_id", "cron", "timezone", "enabled", "next_run_at"], as_json)


@schedules.command("pause")
@click.argument("name")
@pass_state
@handle_errors
def pause(state: CliState, name: str) -> None:
    """Stop schedule NAME from queueing runs."""
    _change(state, "schedule.pause", name, None, lambda s, now: schedule_store.pause(s, name, now))
    click.echo(f"schedule {name} paused")


@schedules.command("resume")
@click.argument("name")
@pass_state
@handle_errors
def resume(state: CliState, name: str) -> None:
    """Let schedule NAME queue runs again (intervals missed while paused are skipped)."""
    _change(state, "schedule.resume", name, None, lambda s, now: schedule_store.resume(s, name, now))
    click.echo(f"schedule {name} resumed")


@schedules.command("update")
@click.argument("name")
@click.option("--cron", help="A new cron expression or preset.")
@click.option("--timezone", help="A new IANA zone.")
@click.option("--conf", help="A new conf, a JSON object.")
@click.option("--priority", type=int, help="A new priority of its runs.")
@pass_state
@handle_errors
def update(state: CliState, name: str, cron: str | None, timezone: str | None, conf: str | None, priority: int | None) -> None:
    """Change schedule NAME."""
    changes: dict[str, Any] = {k: v for k, v in {"cron": cron, "timezone": timezone, "priority": priority}.items() if v is not None}
    if conf is not None:
        changes["conf"] = parse_conf(conf)
    if not changes:
        raise click.UsageError("give at least one of --cron, --timezone, --conf, --priority")
    _change(state, "schedule.update", name, {"fields": sorted(changes)}, lambda s, now: schedule_store.update(s, name, now, **changes))
    click.echo(f"schedule {name} updated")


@schedules.command("delete")
@click.argument("name")
@pass_state
@handle_errors
def delete(state: CliState, name: str) -> None:
    """Delete schedule NAME (its runs stay)."""
    _change(state, "schedule.delete", name, None, lambda s, now: schedule_store.delete(s, name))
    click.echo(f"schedule {name} deleted")
