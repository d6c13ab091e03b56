"""What every CLI command shares: configuration, database access, output and error handling."""

from __future__ import annotations

import os
import functools
import json
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.config import Config, load_config
from orchestrator.db import check_schema, make_engine, make_sessionmaker
from orchestrator.errors import ConfigError, DagDefinitionError, DatabaseError, NotFoundError, OrchestratorError

EXIT_FAILURE = 1
EXIT_USAGE = 2


@dataclass
class CliState:
    """Options of the root command, shared with every subcommand."""

    dags: Path | None = None
    _config: Config | None = None
    _engine: Engine | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(dags_folder=self.dags)
        return self._config

    def sessions(self, *, readonly: bool = False) -> sessionmaker[Session]:
        """Sessions on the configured database, whose schema must be current."""
        if self._engine is None:
            engine = make_engine(self.config.resolved_database_url)
            check_schema(engine)
            self._engine = engine
        return make_sessionmaker(self._engine, readonly=readonly)


pass_state = click.make_pass_decorator(CliState, ensure=True)


def dags_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--dags PATH`: use this DAG folder instead of the configured one."""

    def remember(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
        if value is not None:
            ctx.ensure_object(CliState).dags = value
            # the processes this command starts (DAG file parsers, local Dask workers) read their
            # configuration from the environment: they must see the same folder, and its plugins
            os.environ["ORCH_DAGS_FOLDER"] = str(value.resolve())
        return value

    return click.option(
        "--dags", type=click.Path(file_okay=False, path_type=Path), expose_value=False, callback=remember,
        is_eager=True, help="The DAG folder (default: $ORCH_DAGS_FOLDER or $ORCH_HOME/dags).",
    )(fn)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our exceptions into a one-line message and an exit code (2: bad input, 1: failure)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (NotFoundError, ConfigError, DagDefinitionError) as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except DatabaseError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_FAILURE)
        except OrchestratorError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_FAILURE)

    return wrapper


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def emit_json(rows: Iterable[dict[str, Any]]) -> None:
    click.echo(json.dumps(list(rows), indent=2))


def emit_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain aligned table; `--json` is the format for scripts."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def emit_rows(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    """A listing: the JSON array for scripts (`--json`), else the table of `columns`."""
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, columns)


def parse_conf(raw: str | None) -> dict[str, Any]:
    """`--conf` must be a JSON object."""
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON ({exc.msg} at position {exc.pos})", param_hint="--conf") from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object, e.g. '{\"limit\": 5}'", param_hint="--conf")
    return value
