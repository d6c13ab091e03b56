"""Built-in connector types, registered through `orchestrator_connector_types` like any plugin's.

Each knows how to test a connection of its type: PostgreSQL and SQLite run `SELECT 1`, HTTP(S)
sends a GET to the connection's URL, SMTP connects and sends NOOP.
"""

from __future__ import annotations

import base64
import smtplib
import sqlite3
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from orchestrator.core.connections import Connection
from orchestrator.plugins.hookspecs import hookimpl

TIMEOUT_S = 5.0


def _timeout(conn: Connection) -> float:
    try:
        return float(conn.extra.get("timeout", TIMEOUT_S))
    except (TypeError, ValueError):
        return TIMEOUT_S


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


@dataclass(frozen=True)
class PostgresConnector:
    conn_type: str = "postgresql"

    def test(self, connection: Connection) -> tuple[bool, str]:
        import psycopg

        try:
            with psycopg.connect(
                host=connection.host or "localhost", port=connection.port or 5432, user=connection.login,
                password=connection.password, dbname=connection.schema or "postgres", connect_timeout=max(1, int(_timeout(connection))),
            ) as db:
                db.execute("SELECT 1").fetchone()
        except Exception as exc:  # noqa: BLE001 - a failed test is an answer, not an error
            return False, _first_line(exc)
        return True, f"SELECT 1 on {connection.host or 'localhost'}:{connection.port or 5432}/{connection.schema or 'postgres'} worked"


@dataclass(frozen=True)
class SqliteConnector:
    conn_type: str = "sqlite"

    def test(self, connection: Connection) -> tuple[bool, str]:
        path = connection.schema or connection.host
        if not path:
            return False, "a sqlite connection needs the database file as its schema (sqlite:////path/to/file.db)"
        try:
            # read-only: testing must not create an empty database where none was
            db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=_timeout(connection))
            try:
                db.execute("SELECT 1").fetchone()
            finally:
                db.close()
        except sqlite3.Error as exc:
            return False, f"{_first_line(exc)} ({path})"
        return True, f"SELECT 1 on {path} worked"


@dataclass(frozen=True)
class HttpConnector:
    conn_type: str = "http"

    def test(self, connection: Connection) -> tuple[bool, str]:
        if not connection.host:
            return False, "an http connection needs a host"
        port = f":{connection.port}" if connection.port else ""
        path = "/" + connection.schema.lstrip("/") if connection.schema else "/"
        url = f"{self.conn_type}://{connection.host}{port}{path}"
        request = urllib.request.Request(url, method="GET")
        if connection.login is not None:
            basic = base64.b64encode(f"{connection.login}:{connection.password or ''}".encode()).decode()
            request.add_header("Authorization", f"Basic {basic}")
        try:
            with urllib.request.urlopen(request, timeout=_timeout(connection)) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            return False, f"GET {url} answered {exc.code} {exc.reason}"
        except Exception as exc:  # noqa: BLE001 - unreachable, TLS, DNS...
            return False, f"GET {url} failed: {_first_line(exc)}"
        return True, f"GET {url} answered {status}"


@dataclass(frozen=True)
class SmtpConnector:
    conn_type: str = "smtp"

    def test(self, connection: Connection) -> tuple[bool, str]:
        host, port = connection.host or "localhost", connection.port or 25
        try:
            with smtplib.SMTP(host, port, timeout=_timeout(connection)) as smtp:
                code, _ = smtp.noop()
        except Exception as exc:  # noqa: BLE001 - refused, timed out, not SMTP...
            return False, f"SMTP {host}:{port}: {_first_line(exc)}"
        if code != 250:
            return False, f"SMTP {host}:{port} answered NOOP with {code}"
        return True, f"SMTP {host}:{port} answered NOOP with 250"


@hookimpl
def orchestrator_connector_types() -> list[Any]:
    return [
        PostgresConnector(), PostgresConnector("postgres"), SqliteConnector(),
        HttpConnector(), HttpConnector("https"), SmtpConnector(),
    ]


def check_connection(connection: Connection, connector_types: dict[str, Any]) -> tuple[bool, str]:
    """Test through the connector registered for the connection's type."""
    connector = connector_types.get(connection.conn_type)
    if connector is None:
        known = ", ".join(sorted(connector_types)) or "none"
        return False, f"no connector type {connection.conn_type!r} is registered, so it cannot be tested (known: {known})"
    try:
        ok, message = connector.test(connection)
    except Exception as exc:  # noqa: BLE001 - a plugin's tester that raises still gives an answer
        return False, f"the {connection.conn_type} tester failed: {_first_line(exc)}"
    return bool(ok), str(message)
