"""`orchestrator connections ...` (in-process through click's runner; one test as a subprocess), and
the built-in connection testers against real servers: SQLite files, PostgreSQL, an HTTP server and
an SMTP server started here."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from orchestrator.cli.main import build_cli
from orchestrator.core.connections import Connection
from orchestrator.plugins.connectors import check_connection
from orchestrator.plugins.manager import load_plugins

from .harness import cli_env, orch

PASSWORD = "s3cr3t-p@ss/word"
URI = "postgresql://etl:s3cr3t-p%40ss%2Fword@db.internal:5432/sales?sslmode=require&api_token=tok-998877"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run(args: list[str], env: dict[str, str]) -> Result:
    """`orchestrator ARGS` in this process, with exactly the ORCH_* variables of `env`."""
    unset = {k: None for k in os.environ if k.startswith("ORCH_")}
    result = CliRunner().invoke(build_cli(), args, env={**unset, **{k: v for k, v in env.items() if k.startswith("ORCH_")}})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return Result(result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    env = cli_env(tmp_path)
    assert run(["db", "upgrade"], env).returncode == 0
    return env


def test_the_installed_command_adds_and_gets_a_connection(env: dict[str, str]) -> None:
    assert orch(["connections", "add", "warehouse", "--uri", URI], env).returncode == 0
    got = orch(["connections", "get", "warehouse"], env)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["password"] == "***"


def test_add_then_get_shows_the_connection_with_its_secrets_masked(env: dict[str, str]) -> None:
    added = run(["connections", "add", "warehouse", "--uri", URI], env)
    assert added.returncode == 0, added.stderr
    got = run(["connections", "get", "warehouse"], env)
    assert got.returncode == 0, got.stderr
    shown = json.loads(got.stdout)
    assert (shown["host"], shown["login"], shown["password"], shown["source"]) == ("db.internal", "etl", "***", "database")
    assert shown["extra"] == {"sslmode": "require", "api_token": "***"}
    assert PASSWORD not in got.stdout + got.stderr and "tok-998877" not in got.stdout


def test_list_shows_database_and_environment_connections_without_secrets(env: dict[str, str]) -> None:
    run(["connections", "add", "warehouse", "--uri", URI], env)
    run(["connections", "add", "api", "--conn-type", "https", "--host", "api.example", "--password", "pw-abcdef"], env)
    listed = run(["connections", "list", "--json"], {**env, "ORCH_CONN_FROM_ENV": "http://user:env-pw-123@h:8080"})
    assert listed.returncode == 0, listed.stderr
    rows = {r["conn_id"]: r for r in json.loads(listed.stdout)}
    assert set(rows) == {"warehouse", "api", "from_env"}
    assert (rows["from_env"]["source"], rows["api"]["has_password"]) == ("env", True)
    for secret in (PASSWORD, "pw-abcdef", "env-pw-123", "tok-998877"):
        assert secret not in listed.stdout


def test_adding_an_existing_connection_fails_unless_replaced(env: dict[str, str]) -> None:
    run(["connections", "add", "warehouse", "--uri", URI], env)
    again = run(["connections", "add", "warehouse", "--uri", URI], env)
    assert again.returncode == 1 and "already exists" in again.stderr
    replaced = run(["connections", "add", "warehouse", "--uri", "http://new-host", "--replace"], env)
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads(run(["connections", "get", "warehouse"], env).stdout)["host"] == "new-host"


@pytest.mark.parametrize(
    "args",
    [["--uri", "nonsense"], [], ["--uri", URI, "--host", "h"], ["--conn-type", "http", "--extra", "{not json"]],
    ids=["bad-uri", "nothing", "uri-and-fields", "bad-extra"],
)
def test_bad_input_to_add_exits_2(env: dict[str, str], args: list[str]) -> None:
    result = run(["connections", "add", "c", *args], env)
    assert result.returncode == 2, result.stderr


@pytest.mark.parametrize("command", ["get", "test", "delete"])
def test_an_unknown_connection_exits_2_naming_it(env: dict[str, str], command: str) -> None:
    result = run(["connections", command, "nope"], env)
    assert result.returncode == 2
    assert "'nope'" in result.stderr


def test_delete_removes_the_connection(env: dict[str, str]) -> None:
    run(["connections", "add", "warehouse", "--uri", URI], env)
    assert run(["connections", "delete", "warehouse"], env).returncode == 0
    assert run(["connections", "get", "warehouse"], env).returncode == 2


def test_test_exits_0_when_the_system_answers_and_1_when_it_does_not(env: dict[str, str], tmp_path: Path) -> None:
    db = tmp_path / "data.db"
    sqlite3.connect(db).close()
    run(["connections", "add", "here", "--conn-type", "sqlite", "--schema", str(db)], env)
    run(["connections", "add", "gone", "--conn-type", "sqlite", "--schema", str(tmp_path / "missing.db")], env)
    ok = run(["connections", "test", "here"], env)
    assert ok.returncode == 0 and ok.stdout.startswith("ok:"), ok.stdout + ok.stderr
    failed = run(["connections", "test", "gone"], env)
    assert failed.returncode == 1 and failed.stdout.startswith("failed:")
    assert not (tmp_path / "missing.db").exists()  # testing did not create it


# -- the built-in testers, as registered through the connector-type hook -------------------------
@pytest.fixture(scope="module")
def connector_types() -> dict[str, object]:
    return load_plugins(load_entry_points=False).connector_types


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
        status = 200 if self.path == "/ok" else 503
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def http_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()


def test_http_connections_pass_on_a_2xx_and_fail_on_an_error_status(connector_types: dict, http_port: int) -> None:
    ok = Connection(conn_id="web", conn_type="http", host="127.0.0.1", port=http_port, schema="ok")
    assert check_connection(ok, connector_types) == (True, f"GET http://127.0.0.1:{http_port}/ok answered 200")
    down = ok.model_copy(update={"schema": "down"})
    passed, message = check_connection(down, connector_types)
    assert not passed and "503" in message


@pytest.fixture(scope="module")
def smtp_port() -> Iterator[int]:
    """A minimal SMTP server: greets, answers NOOP and QUIT (what the tester needs)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as io:
                io.write(b"220 test ESMTP\r\n")
                io.flush()
                for line in io:
                    verb = line.strip().upper()
                    io.write(b"221 bye\r\n" if verb == b"QUIT" else b"250 ok\r\n")
                    io.flush()
                    if verb == b"QUIT":
                        break

    threading.Thread(target=serve, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()


def test_smtp_connections_pass_when_the_server_answers_noop(connector_types: dict, smtp_port: int) -> None:
    passed, message = check_connection(Connection(conn_id="mail", conn_type="smtp", host="127.0.0.1", port=smtp_port), connector_types)
    assert passed, message


def test_smtp_connections_fail_when_nothing_listens(connector_types: dict) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    passed, message = check_connection(Connection(conn_id="mail", conn_type="smtp", host="127.0.0.1", port=port), connector_types)
    assert not passed and "refused" in message.lower()


@pytest.mark.postgres
def test_postgresql_connections_run_select_1(connector_types: dict, postgres_server: str) -> None:
    good = Connection(conn_id="pg", conn_type="postgresql", host="127.0.0.1", port=5432, login="postgres", schema="postgres")
    assert check_connection(good, connector_types)[0]
    passed, message = check_connection(good.model_copy(update={"schema": "no_such_database_xyz"}), connector_types)
    assert not passed and "no_such_database_xyz" in message


def test_a_type_without_a_connector_cannot_be_tested(connector_types: dict) -> None:
    passed, message = check_connection(Connection(conn_id="x", conn_type="mystery"), connector_types)
    assert not passed and "no connector type 'mystery'" in message
