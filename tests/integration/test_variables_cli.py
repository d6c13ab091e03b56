"""`orchestrator variables ...` as a user runs it, and Variables read by tasks in real runs: the
environment wins over the database, sensitive values are masked in logs and rendered templates."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from orchestrator.store.models import AuditLog, TaskTry

from .harness import cli_env, orch, upgraded_sessions, write_dag

pytestmark = pytest.mark.slow  # each step is an `orchestrator` process

DAG = """
    from orchestrator.airflow import DAG, BashOperator, Variable, task

    with DAG("reads_vars") as dag:
        @task
        def show():
            print("password is", Variable.get("db_password"))
            return Variable.get("limits", deserialize_json=True)["rows"]

        show() >> BashOperator(task_id="echo", bash_command="echo region={{ var.value.region }} pw={{ var.value.db_password }}")
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    environment = cli_env(tmp_path)
    write_dag(tmp_path / "dags", "reads_vars.py", DAG)
    assert orch(["db", "upgrade"], environment).returncode == 0
    return environment


def _ok(args: list[str], env: dict[str, str]) -> str:
    done = orch(args, env)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_set_get_list_and_delete_round_trip_with_audit(env: dict[str, str], tmp_path: Path) -> None:
    _ok(["variables", "set", "region", "eu-west"], env)
    _ok(["variables", "set", "limits", '{"rows": 5}', "--json", "--description", "row limit"], env)
    _ok(["variables", "set", "db_password", "hunter2-xyz"], env)
    assert _ok(["variables", "get", "region"], env).strip() == "eu-west"
    assert json.loads(_ok(["variables", "get", "limits", "--json"], env)) == {"rows": 5}
    listed = {r["key"]: r for r in json.loads(_ok(["variables", "list", "--json"], env))}
    assert listed["db_password"]["value"] == "***"
    assert listed["limits"]["description"] == "row limit"
    _ok(["variables", "delete", "region"], env)
    missing = orch(["variables", "get", "region"], env)
    assert missing.returncode == 2 and "region" in missing.stderr
    with upgraded_sessions(f"sqlite:///{tmp_path / 'orchestrator.db'}")() as s:
        actions = [a.action for a in s.scalars(select(AuditLog).where(AuditLog.action.like("variable.%")).order_by(AuditLog.id))]
    assert actions == ["variable.create", "variable.create", "variable.create", "variable.delete"]


def test_export_then_import_restores_every_value(env: dict[str, str], tmp_path: Path) -> None:
    _ok(["variables", "set", "a", "1"], env)
    _ok(["variables", "set", "b", '[1, {"c": true}]', "--json"], env)
    exported = tmp_path / "vars.json"
    _ok(["variables", "export", str(exported)], env)
    assert exported.stat().st_mode & 0o777 == 0o600
    _ok(["variables", "delete", "a"], env)
    _ok(["variables", "delete", "b"], env)
    _ok(["variables", "import", str(exported)], env)
    assert json.loads(_ok(["variables", "get", "b", "--json"], env)) == [1, {"c": True}]


def test_importing_a_file_that_is_not_an_object_fails_naming_it(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    done = orch(["variables", "import", str(bad)], env)
    assert done.returncode != 0 and "JSON object" in done.stderr


def test_the_environment_overrides_the_database(env: dict[str, str]) -> None:
    _ok(["variables", "set", "region", "eu-west"], env)
    assert _ok(["variables", "get", "region"], {**env, "ORCH_VAR_REGION": "ap-south"}).strip() == "ap-south"


def test_a_task_reads_variables_and_its_log_and_rendered_command_mask_the_secret(env: dict[str, str], tmp_path: Path) -> None:
    _ok(["variables", "set", "db_password", "hunter2-xyz"], env)
    _ok(["variables", "set", "limits", '{"rows": 7}', "--json"], env)
    run = orch(["dags", "test", "reads_vars"], {**env, "ORCH_VAR_REGION": "ap-south"})
    assert run.returncode == 0, run.stdout + run.stderr
    with upgraded_sessions(f"sqlite:///{tmp_path / 'orchestrator.db'}")() as s:
        tries = {t.task_id: t for t in s.scalars(select(TaskTry).where(TaskTry.dag_id == "reads_vars"))}
    assert "password is ***" in tries["show"].log
    assert "region=ap-south pw=***" in tries["echo"].log
    assert "hunter2-xyz" not in tries["show"].log + tries["echo"].log + json.dumps(tries["echo"].rendered)
    assert tries["echo"].rendered["command"][2] == "echo region=ap-south pw=***"
