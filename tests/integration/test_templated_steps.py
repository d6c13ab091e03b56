"""Every built-in step type renders its templated fields with Airflow's context before it runs, and
the rendered values are stored with the try (`dags test`'s run, real commands, a local HTTP server,
a SQLite connection)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from orchestrator.store import variables as variable_store
from orchestrator.store.connections import crypter

from .steps_harness import HttpServer, Store


@pytest.fixture(scope="module")
def http() -> Iterator[HttpServer]:
    server = HttpServer().start()
    yield server
    server.stop()


@pytest.fixture
def store(tmp_path: Path, http: HttpServer, monkeypatch: pytest.MonkeyPatch) -> Store:
    made = Store.create(tmp_path)
    # code in tasks reaches the store (Variables) with the process's own configuration
    monkeypatch.setenv("ORCH_HOME", str(tmp_path))
    monkeypatch.setenv("ORCH_DATABASE_URL", made.config.resolved_database_url)
    monkeypatch.setenv("ORCH_CONN_API", http.url)
    monkeypatch.setenv("ORCH_CONN_LITE", f"sqlite:///{tmp_path / 'lite.db'}")
    with made.sessions.begin() as s:
        variable_store.put(s, "region", "eu", crypter(made.config), datetime.now(UTC))
        variable_store.put(s, "limits", {"rows": 3}, crypter(made.config), datetime.now(UTC))
    http.received.clear()
    return made


def test_a_shell_command_and_its_env_render(store: Store) -> None:
    done = store.run("t_shell", """
        from orchestrator import DAG, ShellTask
        with DAG("t_shell", params={"n": 2}) as dag:
            ShellTask(task_id="sh", command="echo $WHERE {% for i in range(params.n) %}x{{ i }} {% endfor %}{{ ds_nodash }}",
                      env={"WHERE": "{{ var.value.region }}"})
    """)
    today = done.run.logical_date.strftime("%Y%m%d")
    assert done.result("sh") == f"eu x0 x1 {today}"
    assert done.last_try["sh"].rendered["env"] == {"WHERE": "eu"}


def test_python_arguments_and_templates_dict_render(store: Store) -> None:
    done = store.run("t_python", """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import echo_kwargs
        with DAG("t_python") as dag:
            PythonTask(task_id="py", python_callable=echo_kwargs, op_kwargs={"when": "{{ macros.ds_add(ds, 1) }}", "tag": "{{ task.task_id }}"},
                       templates_dict={"rows": "{{ var.json.limits.rows }}"})
    """)
    tomorrow = done.run.logical_date.date().toordinal() + 1
    result = done.result("py")
    assert result["when"] == datetime.fromordinal(tomorrow).strftime("%Y-%m-%d")
    assert (result["tag"], result["templates_dict"]) == ("py", {"rows": "3"})


def test_an_http_path_headers_and_body_render(store: Store, http: HttpServer) -> None:
    done = store.run("t_http", """
        from orchestrator import DAG, HttpTask
        with DAG("t_http") as dag:
            HttpTask(task_id="post", conn_id="api", method="POST", path="/{{ 'echo' }}", headers={"X-Run": "{{ run_id }}"},
                     json={"region": "{{ var.value.region }}", "dag": "{{ dag.dag_id }}"})
    """)
    assert done.state("post") == "success", done.error("post")
    assert http.received[-1] == {"path": "/echo", "body": {"region": "eu", "dag": "t_http"}}
    assert done.last_try["post"].rendered["headers"] == {"X-Run": done.run.run_id}


def test_sql_renders_before_it_runs(store: Store) -> None:
    done = store.run("t_sql", """
        from orchestrator import DAG, SqlTask
        with DAG("t_sql", params={"table": "regions"}) as dag:
            make = SqlTask(task_id="make", conn_id="lite", sql="create table {{ params.table }} (name text)")
            fill = SqlTask(task_id="fill", conn_id="lite", sql="insert into {{ params.table }} values ('{{ var.value.region }}')")
            read = SqlTask(task_id="read", conn_id="lite", sql="select name from {{ params.table }}")
            make >> fill >> read
    """)
    assert done.result("read") == [{"name": "eu"}]
    assert done.last_try["fill"].rendered["sql"] == "insert into regions values ('eu')"


def test_a_notification_message_renders(store: Store, http: HttpServer) -> None:
    done = store.run("t_notify", """
        from orchestrator import DAG, NotifyTask
        with DAG("t_notify") as dag:
            NotifyTask(task_id="tell", conn_id="api", url="/hooks/{{ dag.dag_id }}", message="done {{ ds }} in {{ var.value.region }}")
    """)
    assert done.state("tell") == "success", done.error("tell")
    posted = http.received[-1]
    assert posted["path"] == "/hooks/t_notify"
    assert f"done {done.run.logical_date.date().isoformat()} in eu" in str(posted["body"])


def test_a_custom_step_types_template_fields_render(store: Store) -> None:
    done = store.run("t_custom", """
        from orchestrator import DAG
        from tests.fixtures import Greeter
        with DAG("t_custom", params={"who": "Ann"}) as dag:
            Greeter(task_id="greet", greeting="Hello {{ params.who }} from {{ ti.task_id }}")
    """)
    assert done.result("greet") == "Hello Ann from greet"
    assert done.last_try["greet"].rendered == {"greeting": "Hello Ann from greet"}


def test_a_template_naming_something_unknown_fails_the_try_naming_it(store: Store) -> None:
    done = store.run("t_bad", """
        from orchestrator import DAG, ShellTask
        with DAG("t_bad") as dag:
            ShellTask(task_id="sh", command="echo {{ params.missing }}")
    """)
    assert done.state("sh") == "failed"
    assert "missing" in done.error("sh")


def test_tasks_push_and_pull_values_through_ti(store: Store) -> None:
    done = store.run("t_xcom", """
        from orchestrator.airflow import DAG, PythonOperator, task

        def push(ti):
            ti.xcom_push(key="rows", value=[1, 2])
            return "pushed"

        with DAG("t_xcom") as dag:
            first = PythonOperator(task_id="push", python_callable=push)

            @task
            def pull(**context):
                ti = context["ti"]
                return {"rows": ti.xcom_pull(task_ids="push", key="rows"), "result": ti.xcom_pull(task_ids="push"),
                        "missing": ti.xcom_pull(task_ids="push", key="nope", default="none")}

            first >> pull()
    """)
    assert done.result("pull") == {"rows": [1, 2], "result": "pushed", "missing": "none"}


def test_xcom_pull_in_a_template_reads_the_upstream_result(store: Store) -> None:
    done = store.run("t_xcom_tpl", """
        from orchestrator.airflow import DAG, BashOperator, PythonOperator

        with DAG("t_xcom_tpl") as dag:
            PythonOperator(task_id="count", python_callable=lambda: 41) >> BashOperator(
                task_id="say", bash_command="echo {{ ti.xcom_pull(task_ids='count') + 1 }}")
    """)
    assert done.result("say") == "42"


def test_a_triggered_runs_conf_renders_over_the_parent_run(store: Store) -> None:
    from orchestrator.store.models import DagRun

    store.run("t_child", """
        from orchestrator import DAG, EmptyTask
        with DAG("t_child") as dag:
            EmptyTask(task_id="noop")
    """)
    done = store.run("t_parent", """
        from orchestrator import DAG
        from orchestrator.airflow import TriggerDagRunOperator
        with DAG("t_parent", params={"region": "eu"}) as dag:
            TriggerDagRunOperator(task_id="kick", trigger_dag_id="t_child",
                                  conf={"day": "{{ ds_nodash }}", "where": ["{{ params.region }}"], "n": 1})
    """)
    child = done.result("kick")
    with store.sessions() as s:
        conf = s.get(DagRun, (child["dag_id"], child["run_id"])).conf
    assert conf == {"day": done.run.logical_date.strftime("%Y%m%d"), "where": ["eu"], "n": 1}


def test_mapped_items_are_data_and_never_rendered(store: Store) -> None:
    done = store.run("t_mapped", """
        from orchestrator import DAG, task
        from tests.fixtures import upstream_value

        with DAG("t_mapped") as dag:
            @task
            def items():
                return ["{{ run_id }}", "plain"]

            task(upstream_value).expand(value=items())
    """)
    from orchestrator.store.models import TaskInstance

    with store.sessions() as s:
        gathered = s.get(TaskInstance, ("t_mapped", done.run.run_id, "upstream_value", -1))
    assert gathered.result == ["{{ run_id }}", "plain"]


def test_clearing_a_task_drops_what_it_pushed(store: Store) -> None:
    from orchestrator.store import clearing as clearing_store
    from orchestrator.store.models import XCom

    done = store.run("t_xcom_clear", """
        from orchestrator.airflow import DAG, PythonOperator

        def push(ti):
            ti.xcom_push(key="rows", value=[1])

        with DAG("t_xcom_clear") as dag:
            PythonOperator(task_id="push", python_callable=push)
    """)
    with store.sessions.begin() as s:
        assert s.get(XCom, ("t_xcom_clear", done.run.run_id, "push", -1, "rows")).value == [1]
        clearing_store.clear_task(s, "t_xcom_clear", done.run.run_id, "push", downstream=False, now=datetime.now(UTC), actor="test")
    with store.sessions() as s:
        assert s.get(XCom, ("t_xcom_clear", done.run.run_id, "push", -1, "rows")) is None
