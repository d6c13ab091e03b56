"""`orchestrator`: the core commands. The scheduler adds its own through the plugin hooks."""

from __future__ import annotations

import sys
import time
from datetime import datetime, timedelta
from typing import TextIO

import click
from sqlalchemy.exc import IntegrityError

from orchestrator.cli import admin, connections, resilience
from orchestrator.cli import airflow as airflow_cli
from orchestrator.cli import approvals as approvals_cli
from orchestrator.cli import definitions as definitions_cli
from orchestrator.cli import machines as machines_cli
from orchestrator.cli import plugins as plugins_cli
from orchestrator.cli import retention as retention_cli
from orchestrator.cli import roles as roles_cli
from orchestrator.cli import run_controls as run_controls_cli
from orchestrator.cli import runs as runs_cli
from orchestrator.cli import schedules as schedules_cli
from orchestrator.cli import simulate as simulate_cli
from orchestrator.cli import tasks as tasks_cli
from orchestrator.cli import variables as variables_cli
from orchestrator.cli.common import (
    EXIT_FAILURE,
    CliState,
    cli_actor,
    dags_option,
    emit_json,
    emit_rows,
    handle_errors,
    iso,
    parse_conf,
    pass_state,
    readable,
    record_audit,
    require_dag,
    utcnow,
)
from orchestrator.cli.run_files import read_run_requests
from orchestrator.core.errors import ConflictError
from orchestrator.core.priority import MAX_PRIORITY, MIN_PRIORITY
from orchestrator.core.states import RUN_TERMINAL, RunState
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.plugins.listeners import ListenerThread, publishing
from orchestrator.plugins.manager import load_plugins, make_plugin_manager
from orchestrator.store import audit, queries, run_batches, run_creation
from orchestrator.store import dags as dag_store
from orchestrator.store import jobs as job_store
from orchestrator.store.backfill import apply_backfill, plan_backfill
from orchestrator.store.db import make_engine, upgrade
from orchestrator.store.permissions import DagPermission
from orchestrator.store.run_batches import RunRequest


@click.group()
@click.version_option(package_name="orchestrator")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Run DAG files from a folder on Dask; every state is kept in SQLite or PostgreSQL."""
    ctx.ensure_object(CliState)


# -- db ----------------------------------------------------------------------------------------
@cli.group()
def db() -> None:
    """Manage the database: its schema, and purging old runs."""


@db.command("upgrade")
@pass_state
@handle_errors
def db_upgrade(state: CliState) -> None:
    """Create or upgrade the schema to the newest revision (safe to run again)."""
    url = state.config.resolved_database_url
    upgrade(make_engine(url))
    click.echo(f"database at {make_engine(url).url.render_as_string()} is up to date")


# -- dags ----------------------------------------------------------------------------------------
@cli.group()
def dags() -> None:
    """List, trigger, pause and test DAGs."""


def _synced(state: CliState, *, readonly: bool = False):  # noqa: ANN202 - a sessionmaker
    """Sessions, after bringing the store in step with the DAG folder."""
    sessions = state.sessions()
    folder = state.config.resolved_dags_folder
    if not folder.is_dir():
        click.echo(f"warning: the DAG folder {folder} does not exist (set ORCH_DAGS_FOLDER or pass --dags)", err=True)
    sync_dag_folder(sessions, state.config, utcnow)
    return state.sessions(readonly=True) if readonly else sessions


@dags.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@dags_option
@pass_state
@handle_errors
def dags_list(state: CliState, as_json: bool) -> None:
    """List the DAGs found in the DAG folder."""
    with _synced(state, readonly=True)() as session:
        rows = [
            {"dag_id": d.dag_id, "is_paused": d.is_paused, "schedule": d.schedule, "fileloc": d.fileloc, "next_run": iso(d.next_run_at)}
            for d in readable(session, queries.list_dags(session))
        ]
        n_errors = len(queries.list_import_errors(session))
    emit_rows(rows, ["dag_id", "is_paused", "schedule", "next_run", "fileloc"], as_json)
    if n_errors and not as_json:
        click.echo(f"\n{n_errors} file(s) failed to import: see `orchestrator import-errors`", err=True)


@dags.command("trigger")
@click.argument("dag_id")
@click.option("--conf", "conf_raw", metavar="JSON", help="Run configuration, a JSON object (merged over the DAG's params).")
@click.option("--run-id", help="The run id (default: manual__<timestamp>).")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Queue this many runs (with --conf's conf) in one transaction.")
@click.option(
    "--conf-file", type=click.File("r", encoding="utf-8"), default=None,
    help='Queue one run per line of this JSON Lines file ("-": stdin): {"conf": {...}, "run_id": ..., "logical_date": ...}, each key optional.',
)
@click.option("--wait", is_flag=True, help="Wait for the run: exit 0 if it succeeds, 1 if not.")
@click.option("--correlation-id", default=None, help="A business identifier for the run (runs can be filtered by it).")
@click.option(
    "--priority", type=click.IntRange(MIN_PRIORITY, MAX_PRIORITY), default=0, show_default=True,
    help="Ready tasks of higher-priority runs are submitted first.",
)
@dags_option
@pass_state
@handle_errors
def dags_trigger(
    state: CliState, dag_id: str, conf_raw: str | None, run_id: str | None, count: int | None, conf_file: TextIO | None, wait: bool,
    correlation_id: str | None,
    priority: int,
) -> None:
    """Queue a manual run of DAG_ID and print its run_id (with --count or --conf-file: many runs, one id a line)."""
    conf = parse_conf(conf_raw)
    if count is not None or conf_file is not None:
        if conf_file is not None and (count is not None or conf_raw is not None or run_id is not None):
            raise click.UsageError("--conf-file gives each run's conf and run_id: it takes no --count, --conf or --run-id")
        if run_id is not None or wait:
            raise click.UsageError("--run-id and --wait name one run: they do not go with --count")
        if correlation_id is not None:
            raise click.UsageError("--correlation-id names one run: it does not go with --count or --conf-file")
        if priority:
            raise click.UsageError("--priority goes with one run: it does not go with --count or --conf-file")
        requests = read_run_requests(conf_file) if conf_file is not None else [RunRequest(conf) for _ in range(count or 1)]
        for new_run_id in _trigger_many(state, dag_id, requests, label="line" if conf_file is not None else "run"):
            click.echo(new_run_id)
        return
    sessions = _synced(state)
    now = utcnow()
    with sessions.begin() as session:
        dag = queries.get_dag(session, dag_id)
        require_dag(session, dag_id, DagPermission.TRIGGER)
        run = run_creation.create_run(
            session, dag_id, run_id=run_id, run_type="manual", logical_date=now, data_interval=None, conf=conf, now=now,
            actor=cli_actor(), check_input=True, priority=priority, correlation_id=correlation_id,
        )
        record_audit(session, "dag.trigger", f"dag:{dag_id}", {"run_id": run.run_id, "conf": conf, **({"priority": priority} if priority else {})})
        paused = dag.is_paused
        new_run_id = run.run_id
    if paused:
        click.echo(f"note: DAG {dag_id!r} is paused; the run starts once it is unpaused", err=True)
    click.echo(new_run_id)
    if wait:
        sys.exit(_wait_for(state, dag_id, new_run_id))


def _trigger_many(state: CliState, dag_id: str, requests: list[RunRequest], label: str) -> list[str]:
    """Check every run first, then queue them MAX_PER_COMMIT per transaction, each audited."""
    sessions = _synced(state)
    now = utcnow()
    with sessions() as session:
        paused = queries.get_dag(session, dag_id).is_paused
        runs = run_batches.plan(session, dag_id, requests, now, label=lambda i: f"{label} {i + 1}")
    queued: list[str] = []
    for start in range(0, len(runs), run_batches.MAX_PER_COMMIT):
        part = runs[start : start + run_batches.MAX_PER_COMMIT]
        try:
            with sessions.begin() as session:
                run_creation.queue_runs(session, part, now, actor=cli_actor())
                session.flush()
                ids = [r.run_id for r in part]
                audit.record(session, actor=cli_actor(), action="run.trigger_batch", target=f"dag:{dag_id}", at=now,
                             details={"count": len(ids), "run_ids": ids})
        except IntegrityError:
            raise ConflictError(
                f"a run of {label}s {start + 1}-{start + len(part)} was queued meanwhile by someone else; "
                f"the {len(queued)} before them are queued, these and the rest are not"
            ) from None
        queued.extend(ids)
    if paused:
        click.echo(f"note: DAG {dag_id!r} is paused; the runs start once it is unpaused", err=True)
    return queued


def _wait_for(state: CliState, dag_id: str, run_id: str) -> int:
    sessions = state.sessions(readonly=True)
    threshold = timedelta(seconds=state.config.scheduler_health_threshold_s)
    warned = False
    while True:
        with sessions() as session:
            run = queries.get_run(session, dag_id, run_id)
            alive = job_store.alive_schedulers(session, utcnow(), threshold)
        if RunState(run.state) in RUN_TERMINAL:
            click.echo(f"run {run_id} ended: {run.state}", err=True)
            return 0 if run.state == RunState.SUCCESS.value else EXIT_FAILURE
        if not alive and not warned:
            click.echo(
                "no scheduler is alive: the run waits until one starts (`orchestrator scheduler`); Ctrl-C to stop waiting",
                err=True,
            )
            warned = True
        elif alive:
            warned = False
        time.sleep(0.1)


_DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"]


@dags.command("backfill")
@click.argument("dag_id")
@click.option("--start", "start", type=click.DateTime(_DATE_FORMATS), required=True, help="First logical date (DAG's time zone).")
@click.option("--end", "end", type=click.DateTime(_DATE_FORMATS), required=True, help="Last logical date (DAG's time zone).")
@click.option("--rerun-failed", is_flag=True, help="Re-run the failed tasks of intervals that already have a failed run.")
@click.option("--dry-run", is_flag=True, help="Only print what would run.")
@click.option("--wait/--no-wait", default=True, help="Follow the runs with a progress bar (default) or return at once.")
@dags_option
@pass_state
@handle_errors
def dags_backfill(state: CliState, dag_id: str, start: datetime, end: datetime, rerun_failed: bool, dry_run: bool, wait: bool) -> None:
    """Run DAG_ID for every data interval whose logical date is in [--start, --end], oldest first."""
    sessions = _synced(state)
    now = utcnow()
    with sessions.begin() as session:
        require_dag(session, dag_id, DagPermission.READ if dry_run else DagPermission.TRIGGER)
        plan = plan_backfill(session, dag_id, start, end, rerun_failed=rerun_failed, now=now)
        if not dry_run:
            apply_backfill(session, dag_id, plan, now=now, actor=cli_actor())
            record_audit(session, "dag.backfill", f"dag:{dag_id}", {"start": start.isoformat(), "end": end.isoformat(), "runs": len(plan.run_ids)})
    verb = "would" if dry_run else "will"
    for interval in plan.create:
        click.echo(f"{verb} run   {interval.start.isoformat()} .. {interval.end.isoformat()}")
    for run_id in plan.rerun:
        click.echo(f"{verb} re-run the failed tasks of {run_id}")
    for run_id in plan.keep:
        click.echo(f"keeps       {run_id} (already there)")
    if not plan.run_ids:
        click.echo("nothing to backfill in that range", err=True)
        return
    if dry_run or not wait:
        return
    sys.exit(_follow(state, dag_id, plan.run_ids))


def _follow(state: CliState, dag_id: str, run_ids: list[str]) -> int:
    """Show a progress bar until every run has ended; 0 if all succeeded."""
    sessions = state.sessions(readonly=True)
    done: dict[str, str] = {}
    with click.progressbar(length=len(run_ids), label=f"backfilling {dag_id}", file=sys.stderr) as bar:
        while len(done) < len(run_ids):
            with sessions() as session:
                for run_id in run_ids:
                    if run_id not in done:
                        run = queries.get_run(session, dag_id, run_id)
                        if RunState(run.state) in RUN_TERMINAL:
                            done[run_id] = run.state
                            bar.update(1)
            time.sleep(0.2)
    failed = [r for r, st in done.items() if st != RunState.SUCCESS.value]
    click.echo(f"{len(run_ids) - len(failed)} succeeded, {len(failed)} did not" + (f": {', '.join(failed)}" if failed else ""), err=True)
    return EXIT_FAILURE if failed else 0


def _set_paused(state: CliState, dag_id: str, paused: bool) -> None:
    # the plugins' listeners hear the change, as they hear the scheduler's
    listeners = ListenerThread(load_plugins(state.config))
    try:
        with publishing(_synced(state), listeners) as session:
            queries.get_dag(session, dag_id)
            require_dag(session, dag_id, DagPermission.EDIT)
            before = dag_store.set_paused(session, dag_id, paused, utcnow(), actor=cli_actor())
            record_audit(session, "dag.pause" if paused else "dag.unpause", f"dag:{dag_id}", {"was_paused": before})
    finally:
        listeners.close()
    click.echo(f"DAG {dag_id} is {'paused' if paused else 'unpaused'}")


@dags.command("pause")
@click.argument("dag_id")
@dags_option
@pass_state
@handle_errors
def dags_pause(state: CliState, dag_id: str) -> None:
    """Pause DAG_ID: no new runs start."""
    _set_paused(state, dag_id, True)


@dags.command("unpause")
@click.argument("dag_id")
@dags_option
@pass_state
@handle_errors
def dags_unpause(state: CliState, dag_id: str) -> None:
    """Unpause DAG_ID."""
    _set_paused(state, dag_id, False)


@cli.command("import-errors")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@dags_option
@pass_state
@handle_errors
def import_errors(state: CliState, as_json: bool) -> None:
    """List the DAG files that failed to import, and why."""
    with _synced(state, readonly=True)() as session:
        rows = [{"filename": e.filename, "message": e.message, "traceback": e.traceback} for e in queries.list_import_errors(session)]
    if as_json:
        emit_json({"filename": r["filename"], "message": r["message"]} for r in rows)
        return
    if not rows:
        click.echo("no import errors")
    for r in rows:
        click.echo(f"{r['filename']}:\n  {r['message']}\n")


cli.add_command(admin.users)
cli.add_command(runs_cli.runs)
cli.add_command(tasks_cli.tasks)
run_controls_cli.register(runs_cli.runs, tasks_cli.tasks)
machines_cli.register(runs_cli.runs)
cli.add_command(resilience.circuits)
cli.add_command(resilience.pools)
cli.add_command(schedules_cli.schedules)
tasks_cli.tasks.add_command(resilience.dead_letters)
tasks_cli.tasks.add_command(resilience.retry)
cli.add_command(plugins_cli.plugins)
cli.add_command(connections.connections)
cli.add_command(variables_cli.variables)
cli.add_command(definitions_cli.definitions)
dags.add_command(airflow_cli.check_airflow)
dags.add_command(simulate_cli.dags_simulate)
cli.add_command(admin.tokens)
cli.add_command(admin.standalone)
cli.add_command(approvals_cli.approvals)
cli.add_command(roles_cli.roles)
db.add_command(retention_cli.clean)


def build_cli() -> click.Group:
    """The root group with every plugin's commands added."""
    make_plugin_manager().hook.orchestrator_cli_commands(cli=cli)
    return cli


def main() -> None:
    build_cli()(prog_name="orchestrator")
