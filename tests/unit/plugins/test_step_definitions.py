"""The built-in step types as DAG authors write them: what they refuse and what their spec records."""

from __future__ import annotations

import pytest

from orchestrator import DAG, HttpTask, NotifyTask, PythonTask, ShellTask, SqlTask, XComArg, get_step_type
from orchestrator.core.connections import Connection
from orchestrator.core.errors import DagDefinitionError, PluginError
from orchestrator.plugins.steps.http import base_url


def test_conn_id_is_part_of_the_task_spec() -> None:
    with DAG("d") as dag:
        SqlTask(task_id="q", conn_id="warehouse", sql="SELECT 1")
        PythonTask(task_id="p", python_callable=print)
    specs = dag.to_spec().task_map
    assert (specs["q"].step_type, specs["q"].conn_id, specs["p"].conn_id) == ("sql", "warehouse", None)


def test_an_empty_shell_command_is_refused() -> None:
    with DAG("d"), pytest.raises(DagDefinitionError, match="command must not be empty"):
        ShellTask(task_id="s", command="  ")


def test_http_without_a_connection_needs_a_full_url() -> None:
    with DAG("d"), pytest.raises(DagDefinitionError, match="without conn_id, path must be a full http"):
        HttpTask(task_id="h", path="/items")


def test_a_result_in_an_http_body_makes_its_task_an_upstream() -> None:
    with DAG("d") as dag:
        src = ShellTask(task_id="src", command="echo 1")
        HttpTask(task_id="h", conn_id="api", path="/x", method="post", json={"n": XComArg(src)})
    assert dag.to_spec().task_map["h"].upstream == ("src",)


def test_a_webhook_notification_needs_somewhere_to_go() -> None:
    with DAG("d"), pytest.raises(DagDefinitionError, match="needs url or conn_id"):
        NotifyTask(task_id="n", message="hi")


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("http://api.local:8080", "http://api.local:8080"),
        ("https://api.example.com/v2", "https://api.example.com/v2"),
        ("http://api.example.com?scheme=https", "https://api.example.com"),
    ],
)
def test_the_base_url_of_an_http_connection(uri: str, expected: str) -> None:
    assert base_url(Connection.from_uri("api", uri)) == expected


def test_step_types_are_found_by_name() -> None:
    assert get_step_type("shell") is ShellTask


def test_an_unknown_step_type_name_lists_the_known_ones() -> None:
    with pytest.raises(PluginError, match=r"no step type named 'shel' is registered \(known: .*shell"):
        get_step_type("shel")
