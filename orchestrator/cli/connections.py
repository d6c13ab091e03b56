"""`orchestrator connections ...`: add, list, get, test and delete named connections.

Secrets are never printed: passwords and sensitive extras show as '***'. `get` and `test` look a
connection up as the scheduler does (environment, secrets backends, database); `list` shows the
database's connections and those defined in the environment.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from pydantic import ValidationError

from orchestrator.cli.common import EXIT_FAILURE, CliState, emit_rows, handle_errors, pass_state, record_audit, utcnow
from orchestrator.core.connections import Connection, env_connections
from orchestrator.plugins.connectors import check_connection
from orchestrator.store import connections as connection_store


@click.group()
def connections() -> None:
    """Manage named connections (secrets are encrypted in the database and never printed)."""


def _build(conn_id: str, uri: str | None, fields: dict[str, Any]) -> Connection:
    given = {k: v for k, v in fields.items() if v is not None}
    if uri is not None and given:
        raise click.UsageError(f"give either --uri or the separate options, not both (got --uri and --{next(iter(given)).replace('_', '-')})")
    if uri is None and "conn_type" not in given:
        raise click.UsageError("give --uri URI, or --conn-type TYPE with --host, --port, ... as needed")
    try:
        if uri is not None:
            return Connection.from_uri(conn_id, uri)
        extra = given.pop("extra", None)
        if extra is not None:
            try:
                given["extra"] = json.loads(extra)
            except json.JSONDecodeError as exc:
                raise click.BadParameter(f"not valid JSON ({exc.msg})", param_hint="--extra") from None
        return Connection(conn_id=conn_id, **given)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'connection'}: {e['msg']}" for e in exc.errors())
        raise click.UsageError(f"invalid connection: {problems}") from None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


@connections.command("add")
@click.argument("conn_id")
@click.option("--uri", help="e.g. postgresql://user:pass@host:5432/db?sslmode=require (percent-encode special characters).")
@click.option("--conn-type", help="postgresql, sqlite, http, https, smtp, or a plugin's type.")
@click.option("--host")
@click.option("--port", type=click.IntRange(0, 65535))
@click.option("--login")
@click.option("--password", help="Stored encrypted; prefer --uri from a file or the environment over the shell history.")
@click.option("--schema", help="Database name, file path or URL path.")
@click.option("--extra", metavar="JSON", help="Extras as a JSON object.")
@click.option("--replace", is_flag=True, help="Overwrite the connection if it exists.")
@pass_state
@handle_errors
def add(state: CliState, conn_id: str, uri: str | None, replace: bool, **fields: Any) -> None:
    """Store connection CONN_ID in the database."""
    conn = _build(conn_id, uri, fields)
    f = connection_store.crypter(state.config)
    with state.sessions().begin() as s:
        exists = connection_store.find(s, conn_id, f) is not None
        if exists and replace:
            connection_store.replace(s, conn, f, utcnow())
        else:
            connection_store.create(s, conn, f, utcnow())
        action = "connection.update" if exists else "connection.create"
        record_audit(s, action, f"connection:{conn_id}", {"conn_type": conn.conn_type})
    click.echo(f"connection {conn_id} {'replaced' if exists else 'added'} ({conn.conn_type})")


def _env_connections() -> list[Connection]:
    found, errors = env_connections()
    for message in errors:
        click.echo(f"warning: {message}", err=True)
    return found


def _row(conn: Connection, source: str) -> dict[str, Any]:
    shown = conn.masked()
    return {
        "conn_id": conn.conn_id, "conn_type": conn.conn_type, "host": conn.host, "port": conn.port, "login": conn.login,
        "schema": conn.schema, "has_password": conn.password is not None, "extra": shown["extra"], "source": source,
    }


@connections.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_state
@handle_errors
def list_(state: CliState, as_json: bool) -> None:
    """List the connections of the database and of the environment (ORCH_CONN_*), without secrets."""
    f = connection_store.crypter(state.config)
    with state.sessions(readonly=True)() as s:
        rows = [_row(c, "database") for c in connection_store.list_all(s, f)]
    rows += [_row(c, "env") for c in _env_connections()]
    emit_rows(rows, ["conn_id", "conn_type", "host", "port", "login", "schema", "source"], as_json)


def _resolve(state: CliState, conn_id: str) -> tuple[Connection, str]:
    """The connection and its source; ConnectionNotFoundError (exit 2) naming where it looked."""
    from orchestrator.plugins.manager import load_plugins

    res = connection_store.resolver(state.config, state.sessions(readonly=True), load_plugins(state.config).secrets_backends())
    conn = res.get(conn_id)
    found = res.lookup(conn_id)  # cached: no second query
    return conn, found[1] if found else "?"


@connections.command("get")
@click.argument("conn_id")
@pass_state
@handle_errors
def get(state: CliState, conn_id: str) -> None:
    """Show CONN_ID as the scheduler would find it (secrets masked) and where it comes from."""
    conn, source = _resolve(state, conn_id)
    click.echo(json.dumps({**conn.masked(), "source": source}, indent=2))


@connections.command("test")
@click.argument("conn_id")
@pass_state
@handle_errors
def test(state: CliState, conn_id: str) -> None:
    """Try to reach CONN_ID through its connector type; exit 0 if it works, 1 if not."""
    from orchestrator.plugins.manager import load_plugins

    conn, source = _resolve(state, conn_id)
    ok, message = check_connection(conn, load_plugins(state.config).connector_types)
    click.echo(f"{'ok' if ok else 'failed'}: {message} ({conn_id} from {source})")
    if not ok:
        sys.exit(EXIT_FAILURE)


@connections.command("delete")
@click.argument("conn_id")
@pass_state
@handle_errors
def delete(state: CliState, conn_id: str) -> None:
    """Delete CONN_ID from the database."""
    with state.sessions().begin() as s:
        connection_store.delete(s, conn_id)
        record_audit(s, "connection.delete", f"connection:{conn_id}")
    click.echo(f"connection {conn_id} deleted")
