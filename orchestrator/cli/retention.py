"""`orchestrator db clean`: purge finished runs older than an age, or as the retention policy says
(`--policy`: the configuration's retention_days / retention_dag_days and the DAGs' own
log_retention / executionLog), or show what would go."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from orchestrator.cli.common import CliState, cli_actor, emit_json, emit_table, handle_errors, pass_state
from orchestrator.core.errors import NotFoundError
from orchestrator.operations.retention import BadAgeError, apply_policy, current_policy, parse_age
from orchestrator.operations.retention import clean as clean_runs
from orchestrator.plugins.log_store import LogStores
from orchestrator.store import retention as store
from orchestrator.store.retention import Selection


@click.command("clean")
@click.option("--older-than", "older_than", default=None, help="Age of the finished runs to purge: 30d, 12h or 90m.")
@click.option(
    "--policy", is_flag=True,
    help="Purge as the retention policy says now: retention_days, retention_dag_days and each DAG's own log_retention (executionLog).",
)
@click.option("--dag", "dag_ids", multiple=True, help="Only this DAG's runs (repeat for several).")
@click.option("--dry-run", is_flag=True, help="Print what would be deleted, per table; delete nothing.")
@click.option("--include-audit", is_flag=True, help="Also delete audit entries older than the age (kept by default).")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_state
@handle_errors
def clean(
    state: CliState, older_than: str | None, policy: bool, dag_ids: tuple[str, ...], dry_run: bool, include_audit: bool, as_json: bool,
) -> None:
    """Purge finished runs older than --older-than (or as --policy says) with their tasks, tries, logs and events.

    Running and queued runs are never touched. Asset events and idempotency keys stay (they
    outlive runs); audit entries stay unless --include-audit. Each clean is audited.
    """
    if policy:
        if older_than is not None or dag_ids or include_audit:
            raise click.UsageError("--policy takes each DAG's age from the policy: it goes without --older-than, --dag and --include-audit")
        _clean_by_policy(state, dry_run, as_json)
        return
    if older_than is None:
        raise click.UsageError("give --older-than AGE (e.g. 30d), or --policy to purge as the retention policy says")
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


def _clean_by_policy(state: CliState, dry_run: bool, as_json: bool) -> None:
    now = datetime.now(UTC)
    with state.sessions(readonly=True).begin() as session:
        selections = current_policy(session, state.config, now)
        counts = [store.count(session, sel) for sel in selections] if dry_run else []
    if not selections:
        raise click.UsageError("no retention policy: set retention_days or retention_dag_days, or give a DAG log_retention (executionLog)")
    if not dry_run:
        reports = apply_policy(state.sessions(), selections, now, actor=cli_actor(), log_stores=LogStores.configured(state.config))
        counts = [r.rows for r in reports]
    verb = "would delete" if dry_run else "deleted"
    if as_json:
        emit_json([{"dag_ids": list(sel.dag_ids), "exclude_dag_ids": list(sel.exclude_dag_ids), "cutoff": sel.cutoff.isoformat(), "rows": rows}
                   for sel, rows in zip(selections, counts)])
        return
    for sel, rows in zip(selections, counts):
        which = ", ".join(sel.dag_ids) if sel.dag_ids else "every other DAG"
        _emit(rows, False, f"{verb} for {which} (finished before {sel.cutoff.isoformat(timespec='seconds')}):")


def _emit(counts: dict[str, int], as_json: bool, title: str) -> None:
    if as_json:
        emit_json([{"table": table, "rows": n} for table, n in counts.items()])
        return
    click.echo(title)
    emit_table([{"table": table, "rows": n} for table, n in counts.items()], ["table", "rows"])
