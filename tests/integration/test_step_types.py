"""The built-in step types against real things: shell commands, a local HTTP and SMTP server, SQLite
and PostgreSQL. Each DAG runs once through `dags test`'s in-process run (the scheduler's tracker);
connections come from ORCH_CONN_<ID> as users would set them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import temporary_postgres_database

from .steps_harness import HttpServer, SmtpServer, Store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return Store.create(tmp_path_factory.mktemp("steps"))


@pytest.fixture(scope="module")
def http() -> Iterator[HttpServer]:
    server = HttpServer().start()
    yield server
    server.stop()


@pytest.fixture
def api(http: HttpServer, monkeypatch: pytest.MonkeyPatch) -> HttpServer:
    """The local HTTP server as connection `api` (with a login, sent as basic auth)."""
    monkeypatch.setenv("ORCH_CONN_API", http.url.replace("http://", "http://robot:s3cret@"))
    http.received.clear()
    return http


# -- ShellTask -------------------------------------------------------------------------------------
def test_shell_json_output_is_the_result(store: Store) -> None:
    done = store.run("shell_json", """
        from orchestrator import DAG, ShellTask
        with DAG("shell_json") as dag:
            ShellTask(task_id="sh", command="echo starting >&2; echo '{\\"rows\\": 3}'")
    """)
    assert (done.state("sh"), done.result("sh")) == ("success", {"rows": 3})


def test_shell_last_line_is_the_result_when_the_output_is_not_json(store: Store) -> None:
    done = store.run("shell_last", """
        from orchestrator import DAG, ShellTask
        with DAG("shell_last") as dag:
            ShellTask(task_id="sh", command=["sh", "-c", "printf 'first\\nlast\\n\\n'"])
    """)
    assert done.result("sh") == "last"


def test_shell_stdout_and_stderr_go_to_the_try_log(store: Store) -> None:
    done = store.run("shell_log", """
        from orchestrator import DAG, ShellTask
        with DAG("shell_log") as dag:
            ShellTask(task_id="sh", command="echo to-stdout; echo to-stderr >&2")
    """)
    assert "to-stdout" in done.log("sh") and "to-stderr" in done.log("sh")


def test_shell_nonzero_exit_fails_the_try(store: Store) -> None:
    done = store.run("shell_fail", """
        from orchestrator import DAG, ShellTask
        with DAG("shell_fail") as dag:
            ShellTask(task_id="sh", command="echo broken; exit 3")
    """)
    assert done.state("sh") == "failed"
    assert "exited with code 3 (last line: broken)" in done.error("sh")


def test_shell_env_and_cwd_reach_the_command(store: Store, tmp_path: Path) -> None:
    done = store.run("shell_env", f"""
        from orchestrator import DAG, ShellTask
        with DAG("shell_env") as dag:
            ShellTask(task_id="sh", command='echo "$GREETING from $(pwd)"', env={{"GREETING": "hi"}}, cwd={str(tmp_path)!r})
    """)
    assert done.result("sh") == f"hi from {tmp_path}"


def test_shell_timeout_kills_the_command_and_fails_the_try(store: Store, tmp_path: Path) -> None:
    marker = tmp_path / "survived"
    done = store.run("shell_timeout", f"""
        from orchestrator import DAG, ShellTask
        with DAG("shell_timeout") as dag:
            ShellTask(task_id="sh", command="sleep 3 && touch {marker}", timeout=0.3)
    """)
    assert done.state("sh") == "failed"
    assert "ran longer than its timeout of 0.3 s" in done.error("sh")
    assert not marker.exists()


# -- HttpTask --------------------------------------------------------------------------------------
def test_http_get_on_a_connection_returns_the_response_json(store: Store, api: HttpServer) -> None:
    done = store.run("http_get", """
        from orchestrator import DAG, HttpTask
        with DAG("http_get") as dag:
            HttpTask(task_id="get", conn_id="api", path="/items")
    """)
    assert done.result("get") == {"items": [1, 2, 3], "auth": "Basic cm9ib3Q6czNjcmV0"}


def test_http_post_sends_an_upstream_result_as_the_json_body(store: Store, api: HttpServer) -> None:
    done = store.run("http_post", """
        from orchestrator import DAG, HttpTask, ShellTask, XComArg
        with DAG("http_post") as dag:
            count = ShellTask(task_id="count", command="echo 42")
            HttpTask(task_id="post", conn_id="api", path="/echo", method="POST", json={"count": XComArg(count)})
    """)
    assert done.result("post") == {"count": 42}
    assert api.received == [{"path": "/echo", "body": {"count": 42}}]


def test_http_unexpected_status_fails_the_try_naming_it(store: Store, api: HttpServer) -> None:
    done = store.run("http_500", """
        from orchestrator import DAG, HttpTask
        with DAG("http_500") as dag:
            HttpTask(task_id="get", conn_id="api", path="/fail")
    """)
    assert done.state("get") == "failed"
    assert "/fail answered 500" in done.error("get") and "the server is down" in done.error("get")


def test_http_expected_status_codes_are_configurable(store: Store, api: HttpServer) -> None:
    done = store.run("http_404", """
        from orchestrator import DAG, HttpTask
        with DAG("http_404") as dag:
            HttpTask(task_id="get", conn_id="api", path="/missing", expected_status=[404])
    """)
    assert (done.state("get"), done.result("get")) == ("success", {"error": "no such thing"})


def test_http_connection_password_is_masked_in_the_log(store: Store, api: HttpServer) -> None:
    done = store.run("http_mask", """
        from orchestrator import DAG, HttpTask
        with DAG("http_mask") as dag:
            HttpTask(task_id="get", conn_id="api", path="/items?echo=s3cret")
    """)
    assert "s3cret" not in done.log("get") and "/items?echo=***" in done.log("get")


# -- SqlTask ---------------------------------------------------------------------------------------
SQL_DAG = """
    from orchestrator import DAG, SqlTask, XComArg
    with DAG({dag_id!r}) as dag:
        create = SqlTask(task_id="create", conn_id="warehouse", sql="CREATE TABLE orders (id INTEGER PRIMARY KEY, amount NUMERIC(10, 2), note TEXT)")
        insert = SqlTask(
            task_id="insert", conn_id="warehouse",
            sql="INSERT INTO orders (id, amount, note) VALUES (1, 9.5, 'a'), (2, 20, 'b'), (3, 30.25, :note)",
            parameters={{"note": "c"}},
        )
        select = SqlTask(task_id="select", conn_id="warehouse", sql="SELECT id, amount, note FROM orders ORDER BY id")
        capped = SqlTask(task_id="capped", conn_id="warehouse", sql="SELECT id FROM orders ORDER BY id", max_rows=2)
        create >> insert >> [select, capped]
"""
ORDERS = [{"id": 1, "amount": 9.5, "note": "a"}, {"id": 2, "amount": 20, "note": "b"}, {"id": 3, "amount": 30.25, "note": "c"}]


def test_sql_on_sqlite_returns_rows_and_counts(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_CONN_WAREHOUSE", f"sqlite:///{tmp_path / 'warehouse.db'}")
    done = store.run("sql_sqlite", SQL_DAG.format(dag_id="sql_sqlite"))
    assert done.result("insert") == {"rowcount": 3}
    assert done.result("select") == ORDERS


def test_sql_rows_are_capped_at_max_rows_with_a_warning(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_CONN_WAREHOUSE", f"sqlite:///{tmp_path / 'warehouse.db'}")
    done = store.run("sql_capped", SQL_DAG.format(dag_id="sql_capped"))
    assert done.result("capped") == [{"id": 1}, {"id": 2}]
    assert "more than max_rows=2 rows" in done.log("capped")


def test_sql_error_fails_the_try(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORCH_CONN_WAREHOUSE", f"sqlite:///{tmp_path / 'warehouse.db'}")
    done = store.run("sql_error", """
        from orchestrator import DAG, SqlTask
        with DAG("sql_error") as dag:
            SqlTask(task_id="bad", conn_id="warehouse", sql="SELECT * FROM no_such_table")
    """)
    assert done.state("bad") == "failed" and "no_such_table" in done.error("bad")


@pytest.mark.postgres
def test_sql_on_postgresql_returns_rows_and_counts(
    store: Store, postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with temporary_postgres_database("orch_steps") as url:
        # the database URL as a connection URI: postgresql://user@host:port/db
        monkeypatch.setenv("ORCH_CONN_WAREHOUSE", url.replace("postgresql+psycopg://", "postgresql://"))
        done = store.run("sql_postgres", SQL_DAG.format(dag_id="sql_postgres"))
        assert done.result("insert") == {"rowcount": 3}
        assert done.result("select") == ORDERS


# -- NotifyTask ------------------------------------------------------------------------------------
def test_notify_webhook_posts_the_message_to_the_server(store: Store, api: HttpServer) -> None:
    done = store.run("notify_hook", """
        from orchestrator import DAG, NotifyTask
        with DAG("notify_hook") as dag:
            NotifyTask(task_id="tell", conn_id="api", url="/hook", message="report ready", data={"rows": 3})
    """)
    assert done.state("tell") == "success"
    [post] = api.received
    assert post["path"] == "/hook"
    assert post["body"] == {"subject": None, "message": "report ready", "dag_id": "notify_hook", "run_id": done.run.run_id, "task_id": "tell", "rows": 3}


def test_notify_on_failure_sends_when_an_upstream_failed(store: Store, api: HttpServer) -> None:
    done = store.run("notify_failure", f"""
        from orchestrator import DAG, NotifyTask, ShellTask
        with DAG("notify_failure") as dag:
            load = ShellTask(task_id="load", command="exit 1")
            load >> NotifyTask(task_id="alert", url={api.url + "/alert"!r}, message="load failed", trigger_rule="one_failed")
    """)
    assert (done.state("load"), done.state("alert")) == ("failed", "success")
    assert [p["body"]["message"] for p in api.received] == ["load failed"]


def test_notify_email_goes_through_the_smtp_connection(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    smtp = SmtpServer().start()
    try:
        monkeypatch.setenv("ORCH_CONN_MAIL", f"smtp://127.0.0.1:{smtp.port}?from=orchestrator%40example.com")
        done = store.run("notify_mail", """
            from orchestrator import DAG, NotifyTask
            with DAG("notify_mail") as dag:
                NotifyTask(task_id="mail", channel="email", conn_id="mail", to=["ops@example.com"], subject="nightly", message="all good")
        """)
    finally:
        smtp.stop()
    assert done.state("mail") == "success"
    [msg] = smtp.messages
    assert "ops@example.com" in msg["rcpt"][0]
    assert "Subject: nightly" in msg["data"] and "all good" in msg["data"] and "From: orchestrator@example.com" in msg["data"]
