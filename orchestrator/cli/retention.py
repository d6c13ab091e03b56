"""`orchestrator db clean`: purge finished runs older than an age, or show what would go."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from orchestrator.cli.common import CliState, cli_actor, emit_json, emit_table, handle_errors, pass_state
from orchestrator.errors import NotFoundError
from orchestrator.log_store import LogStores
from orchestrator.retention import clean as clean_runs
from orchestrator.retention import BadAgeError, parse_age
from orchestrator.store import retention as store
from orchestrator.store.retention import Selection


@click.command("clean")
@click.option("--older-than", "older_than", required=True, help="Age of the finished runs to purge: 30d, 12h or 90m.")
@click.option("--dag", "dag_ids", multiple=True, help="Only this DAG's runs (repeat for several).")
@click.option("--dry-run", is_flag=True, help="Print what would be deleted, per table; delete nothing.")
@click.option("--include-audit", is_flag=True, help="Also delete audit entries older than the age (kept by default).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_state
@handle_errors
def clean(state: CliState, older_than: str, dag_ids: tuple[str, ...], dry_run: bool, include_audit: bool, as_json: bool) -> None:
    """Purge finished runs older than --older-than with their tasks, tries, logs and events.

    Running and queued runs are never touched. Asset events and idempotency keys stay (they
    outlive runs); audit entries stay unless --include-audit. Each clean is audited.
    """
    try:
        age = parse_age(older_than)
    except BadAgeError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    if include_audit and dag_ids:
        raise click.UsageError("--include-audit purges audit entries of every DAG; it cannot be combined with --dag")
    now = datetime.now(UTC)
    selection = Selection(cutoff=now - age, dag_ids=tuple(dict.fromkeys(dag_ids)), include_audit=include_audit)
    sessions = state.sessions()
    if selection.dag_ids:
        with sessions.begin() as session:
            unknown = sorted(set(selection.dag_ids) - store.known_dag_ids(session, selection.dag_ids))
        if unknown:
            raise NotFoundError(f"no DAG named {', '.join(map(repr, unknown))} (and no runs of it)")
    if dry_run:
        with state.sessions(readonly=True).begin() as session:
            counts = store.count(session, selection)
        _emit(counts, as_json, f"would delete (finished before {selection.cutoff.isoformat(timespec='seconds')}):")
        return
    report = clean_runs(
        sessions, selection, actor=cli_actor(), now=now, details={"older_than": older_than},
        log_stores=LogStores.configured(state.config),
    )
    _emit(report.rows, as_json, f"deleted (finished before {selection.cutoff.isoformat(timespec='seconds')}):")


def _emit(counts: dict[str, int], as_json: bool, title: str) -> None:
    if as_json:
        emit_json([{"table": table, "rows": n} for table, n in counts.items()])
        return
    click.echo(title)
    emit_table([{"table": table, "rows": n} for table, n in counts.items()], ["table", "rows"])
