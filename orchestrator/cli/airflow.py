"""`orchestrator dags check-airflow FILE`: rewrite an Airflow DAG file's imports into a copy and say
what will not run; the copy is then loaded as the scheduler would load it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from orchestrator.airflow.migrate import rewrite
from orchestrator.cli.common import EXIT_FAILURE, handle_errors
from orchestrator.execution.loader import parse_files


@click.command("check-airflow")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the copy (default: FILE's name with _orchestrator before .py, beside it).")
@handle_errors
def check_airflow(file: Path, output: Path | None) -> None:
    """Rewrite FILE's Airflow imports into a copy, list what will not run, and load the copy.

    Exits 0 when the copy loads, 1 when it fails to (the error is printed).
    """
    try:
        migration = rewrite(file.read_text())
    except SyntaxError as exc:
        raise click.UsageError(f"{file} is not valid Python: {exc}") from None
    target = output or file.with_name(f"{file.stem}_orchestrator.py")
    target.write_text(migration.source)
    click.echo(f"wrote {target}")
    for finding in migration.findings:
        click.echo(f"  {finding}")
    if not migration.findings:
        click.echo("  nothing found that will not run")
    (result,) = parse_files([str(target)], timeout_s=30.0, processes=1, dags_root=target.parent)
    if result.error:
        click.echo(f"the copy does not load: {result.error}", err=True)
        sys.exit(EXIT_FAILURE)
    click.echo(f"the copy loads: {', '.join(s.dag_id for s in result.specs) or 'no DAG'} ({len(result.specs)} DAG(s))")
