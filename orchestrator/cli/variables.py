"""`orchestrator variables ...`: get, set, list, delete, import and export Variables.

Values are JSON, encrypted at rest. `list` masks the values of sensitive keys (password, secret,
token, api_key, ...); `get` and `export` give them, since that is what they are for. Every change
is in the audit log.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click

from orchestrator.cli.common import CliState, cli_actor, emit_rows, handle_errors, pass_state, utcnow
from orchestrator.core.variables import as_text, check_key, decode, env_variables, from_env, is_sensitive, parse_import, shown
from orchestrator.store import audit
from orchestrator.store import variables as variable_store
from orchestrator.store.connections import crypter


@click.group()
def variables() -> None:
    """Manage Variables: named JSON values for DAGs and templates ({{ var.value.KEY }})."""


@variables.command("set")
@click.argument("key")
@click.argument("value")
@click.option("--json", "as_json", is_flag=True, help="VALUE is JSON (a number, list, object...), not text.")
@click.option("--description", help="What the variable is for.")
@pass_state
@handle_errors
def set_(state: CliState, key: str, value: str, as_json: bool, description: str | None) -> None:
    """Store VALUE under KEY (replacing it)."""
    check_key(key)
    stored: Any = value
    if as_json:
        try:
            stored = json.loads(value)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"not valid JSON ({exc.msg})", param_hint="VALUE") from None
    with state.sessions().begin() as s:
        new = variable_store.put(s, key, stored, crypter(state.config), utcnow(), description)
        audit.record(s, actor=cli_actor(), action="variable.create" if new else "variable.update", target=f"variable:{key}",
                     at=utcnow(), details={"sensitive": is_sensitive(key)})
    click.echo(f"variable {key} {'added' if new else 'replaced'}")


@variables.command("get")
@click.argument("key")
@click.option("--json", "as_json", is_flag=True, help="Print the value as JSON.")
@pass_state
@handle_errors
def get(state: CliState, key: str, as_json: bool) -> None:
    """Print KEY's value as a task sees it (ORCH_VAR_<KEY> first, then the database)."""
    check_key(key)
    text = from_env(key)
    if text is not None:
        value: Any = decode(text, key) if as_json else text
    else:
        with state.sessions(readonly=True)() as s:
            value = variable_store.get(s, key, crypter(state.config)).value
    click.echo(json.dumps(value) if as_json else as_text(value))


@variables.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_state
@handle_errors
def list_(state: CliState, as_json: bool) -> None:
    """List the variables of the database and the environment (ORCH_VAR_*); sensitive values masked."""
    with state.sessions(readonly=True)() as s:
        rows = [
            {"key": v.key, "value": shown(v.key, v.value), "description": v.description, "source": "database"}
            for v in variable_store.list_all(s, crypter(state.config))
        ]
    rows += [{"key": k, "value": shown(k, v), "description": None, "source": "env"} for k, v in sorted(env_variables().items())]
    if not as_json:
        rows = [{**r, "value": as_text(r["value"])[:80]} for r in rows]
    emit_rows(rows, ["key", "value", "description", "source"], as_json)


@variables.command("delete")
@click.argument("key")
@pass_state
@handle_errors
def delete(state: CliState, key: str) -> None:
    """Delete KEY from the database."""
    with state.sessions().begin() as s:
        variable_store.delete(s, key)
        audit.record(s, actor=cli_actor(), action="variable.delete", target=f"variable:{key}", at=utcnow())
    click.echo(f"variable {key} deleted")


@variables.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@pass_state
@handle_errors
def import_(state: CliState, file: Path) -> None:
    """Store every variable of FILE, a JSON object of key -> value (existing keys are replaced)."""
    try:
        data = parse_import(json.loads(file.read_text()))
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"{file} is not JSON ({exc.msg} at line {exc.lineno})", param_hint="FILE") from None
    f = crypter(state.config)
    with state.sessions().begin() as s:
        for key, value in data.items():
            variable_store.put(s, key, value, f, utcnow())
        audit.record(s, actor=cli_actor(), action="variable.import", target=f"file:{file.name}", at=utcnow(), details={"keys": sorted(data)})
    click.echo(f"{len(data)} variable(s) imported from {file}")


@variables.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@pass_state
@handle_errors
def export(state: CliState, file: Path) -> None:
    """Write the database's variables to FILE as a JSON object (values in clear: the file is made mode 600)."""
    with state.sessions(readonly=True)() as s:
        data = {v.key: v.value for v in variable_store.list_all(s, crypter(state.config))}
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=True)
    with state.sessions().begin() as s:
        audit.record(s, actor=cli_actor(), action="variable.export", target=f"file:{file.name}", at=utcnow(), details={"count": len(data)})
    click.echo(f"{len(data)} variable(s) exported to {file}")
