"""The scheduler's commands, added to `orchestrator` through the plugin hook like any plugin's."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import click
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.cli.common import CliState, cli_actor, dags_option, handle_errors, parse_conf, pass_state, record_audit
from orchestrator.core.config import Config
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.plugins.hookspecs import hookimpl
from orchestrator.store import queries
from orchestrator.store.db import is_sqlite


def _make_scheduler(config: Config, sessions: sessionmaker[Session]) -> Any:
    from orchestrator.execution.dask_executor import DaskExecutor
    from scheduler.service import Scheduler

    executor = DaskExecutor(
        config.dask_address, workers=config.dask_workers, threads_per_worker=config.dask_threads_per_worker,
        ship_code_from=config.resolved_dags_folder if config.ships_code else None,
    )
    # SQLite allows one scheduler; on PostgreSQL any number share the work
    return Scheduler(config, sessions, executor, exclusive=is_sqlite(config.resolved_database_url))


def _run_scheduler(state: CliState) -> None:
    config = state.config
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sched = _make_scheduler(config, state.sessions())
    sched.install_signal_handlers()
    state.reload_on_sighup()
    where = config.dask_address or f"a LocalCluster of {config.dask_workers} workers"
    click.echo(f"scheduler: DAGs from {config.resolved_dags_folder}, tasks on {where}", err=True)
    sched.run()
    click.echo("scheduler stopped", err=True)


@click.command("scheduler")
@dags_option
@pass_state
@handle_errors
def scheduler_command(state: CliState) -> None:
    """Run the scheduler until SIGTERM / Ctrl-C."""
    _run_scheduler(state)


@click.command("test")
@click.argument("dag_id")
@click.option("--conf", "conf_raw", metavar="JSON", help="Run configuration, a JSON object.")
@dags_option
@pass_state
@handle_errors
def dags_test_command(state: CliState, dag_id: str, conf_raw: str | None) -> None:
    """Run DAG_ID once, in this process, and print each task's outcome (exit 1 if the run fails)."""
    from scheduler.testrun import test_run

    conf = parse_conf(conf_raw)
    sessions = state.sessions()
    sync_dag_folder(sessions, state.config, lambda: datetime.now(UTC))
    with sessions() as session:
        queries.get_dag(session, dag_id)
    key = test_run(sessions, state.config, dag_id, conf, actor=cli_actor())
    with sessions.begin() as session:
        record_audit(session, "dag.test", f"run:{key.dag_id}/{key.run_id}")
    with sessions() as session:
        run = queries.get_run(session, key.dag_id, key.run_id)
        for ti in queries.list_task_instances(session, key.dag_id, key.run_id):
            took = f"{(ti.end_date - ti.start_date).total_seconds():.3f}s" if ti.start_date and ti.end_date else "-"
            click.echo(f"{ti.task_id:<30} {ti.state:<16} try {ti.try_number}  {took}")
        click.echo(f"run {run.run_id}: {run.state}")
    if run.state != "success":
        raise SystemExit(1)


@hookimpl
def orchestrator_services(config: Config, sessions: sessionmaker[Session], options: dict[str, Any]) -> list[Any]:
    return [_make_scheduler(config, sessions)]


@hookimpl
def orchestrator_cli_commands(cli: click.Group) -> None:
    cli.add_command(scheduler_command)
    dags = cli.commands["dags"]
    assert isinstance(dags, click.Group)
    dags.add_command(dags_test_command)
