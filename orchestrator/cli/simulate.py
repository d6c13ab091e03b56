"""`orchestrator dags simulate`: a dry run of a DAG (orchestrator.operations.simulation), nothing executed or stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import IO

import click
import yaml

from orchestrator.cli.common import CliState, dags_option, handle_errors, parse_conf, pass_state, require_dag
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.operations.simulation import SimulationInputError, parse_outcomes, simulate
from orchestrator.store import queries
from orchestrator.store.permissions import DagPermission


@click.command("simulate")
@click.argument("dag_id")
@click.option("--outcomes", "outcomes_file", type=click.File("r", encoding="utf-8"), default=None,
              help='A JSON or YAML file: {"default": {...}, "tasks": {task_id: outcome or [one per try]}} (default: every try succeeds).')
@click.option("--conf", "conf_raw", metavar="JSON", help="The run's conf, a JSON object (merged over the DAG's params).")
@click.option("--start", type=click.DateTime(formats=["%Y-%m-%dT%H:%M:%S"]), default=None, help="When the run starts, UTC (default: now).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole simulation as JSON (with the events the run would record).")
@dags_option
@pass_state
@handle_errors
def dags_simulate(state: CliState, dag_id: str, outcomes_file: IO[str] | None, conf_raw: str | None, start: datetime | None,
                  as_json: bool) -> None:
    """Walk a run of DAG_ID without executing any task: the path, retries, escalations, deadlines
    and the final state, decided as the scheduler decides. Exit 1 unless the run would succeed."""
    conf = parse_conf(conf_raw)
    raw = _read_outcomes(outcomes_file) if outcomes_file is not None else None
    sessions = state.sessions()
    if state.config.resolved_dags_folder.is_dir():
        sync_dag_folder(sessions, state.config, lambda: datetime.now(UTC))
    with sessions() as session:
        require_dag(session, dag_id, DagPermission.READ)
        spec = queries.dag_spec(session, dag_id)
    walked = simulate(spec, parse_outcomes(raw, spec), conf=conf, start=(start.replace(tzinfo=UTC) if start else datetime.now(UTC)))
    if as_json:
        click.echo(json.dumps(walked.as_dict(), indent=2, default=str))
    else:
        for step in walked.path:
            where = step["task_id"] + (f"[{step['map_index']}]" if step["map_index"] >= 0 else "")
            ended = step["end"].isoformat() if step["end"] else "never"
            click.echo(f"{step['start'].isoformat()}  {where:<30} try {step['try_number']}  {step['status'] or 'waiting':<8} until {ended}")
        for r in walked.retries:
            click.echo(f"retry: {r['task_id']} try {r['try_number']} failed at {r['failed_at'].isoformat()}, retried at {r['retry_at'].isoformat()}")
        for e in walked.escalations:
            click.echo(f"escalation: {e['task_id']} at {e['at'].isoformat()}: {e['describe']}")
        for d in walked.deadlines:
            click.echo(f"deadline: {d['task_id']} {d['kind']} at {d['at'].isoformat()}" + (" (missed)" if d["missed"] else ""))
        if walked.stalled:
            click.echo(f"stalled: {walked.stalled}")
        click.echo(f"run: {walked.state}" + (f" at {walked.ended.isoformat()}" if walked.ended else ""))
    if walked.state != "success":
        raise SystemExit(1)


def _read_outcomes(handle: IO[str]) -> dict:
    try:
        data = yaml.safe_load(handle)  # JSON is YAML too
    except yaml.YAMLError as exc:
        raise SimulationInputError(f"the outcomes file {handle.name} is neither JSON nor YAML: {exc}") from None
    if data is not None and not isinstance(data, dict):
        raise SimulationInputError(f"the outcomes file {handle.name} must hold an object with 'default' and/or 'tasks'")
    return data or {}
