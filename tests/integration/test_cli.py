"""The `orchestrator` command line, run as a user runs it: a subprocess, against a real scheduler process."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.store.db import make_engine, make_sessionmaker
from orchestrator.store.models import ApiToken, AuditLog, Dag, DagRun

from .harness import ORCHESTRATOR, OutputReader, SchedulerProcess, cli_env, orch, upgraded_sessions, write_dag

DAGS = {
    "ok.py": """
        from orchestrator import DAG, task
        from tests.fixtures import numbers, total

        with DAG("ok") as dag:
            task(total)(task(numbers)(3))
    """,
    "fails.py": """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import always_fail

        with DAG("fails") as dag:
            PythonTask(task_id="boom", python_callable=always_fail)
    """,
    "flaky.py": """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import fail_on_first_try

        with DAG("flaky") as dag:
            PythonTask(task_id="flaky", python_callable=fail_on_first_try, retries=1, retry_delay=0.2)
    """,
    "scheduled.py": """
        from datetime import datetime
        from orchestrator import DAG, PythonTask
        from tests.fixtures import succeed

        with DAG("scheduled", schedule="@daily", start_date=datetime(2100, 1, 1)) as dag:
            PythonTask(task_id="report", python_callable=succeed)
    """,
    "pausable.py": """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import succeed

        with DAG("pausable") as dag:
            PythonTask(task_id="only", python_callable=succeed)
    """,
    "broken.py": "def broken(:\n    pass\n",
}
FIELDS = {
    "dags": {"dag_id", "is_paused", "schedule", "fileloc", "next_run"},
    "runs": {"run_id", "state", "logical_date", "start_date", "end_date", "correlation_id"},
    "tasks": {"task_id", "map_index", "state", "try_number", "start_date", "end_date"},
    "import-errors": {"filename", "message"},
}


@dataclass
class Cli:
    home: Path
    env: dict[str, str]
    sessions: sessionmaker[Session]

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return orch(args, self.env, timeout=timeout)

    def json(self, *args: str) -> list[dict]:
        result = self.run(*args, "--json")
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    def run_ok(self, *args: str) -> str:
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        return result.stdout


def _home_with_dags(home: Path) -> Cli:
    """DAG files in home/dags and an upgraded SQLite database in home (as `db upgrade` leaves it)."""
    for name, source in DAGS.items():
        write_dag(home / "dags", name, source)
    return Cli(home, cli_env(home), upgraded_sessions(f"sqlite:///{home / 'orchestrator.db'}"))


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """A home with DAGs, an upgraded database and `orchestrator scheduler` running."""
    cli = _home_with_dags(tmp_path_factory.mktemp("cli"))
    scheduler = SchedulerProcess(cli.env, cli.home / "scheduler.log").start()
    try:
        scheduler.wait_registered(cli.sessions)
        yield cli
    finally:
        scheduler.cleanup()
        cli.sessions.kw["bind"].dispose()


@pytest.fixture(scope="module")
def flaky_run(cli: Cli) -> str:
    """A finished run of `flaky`, whose task failed once and then succeeded."""
    return cli.run_ok("dags", "trigger", "flaky", "--wait").strip()


@pytest.fixture(scope="module")
def ok_run(cli: Cli) -> str:
    return cli.run_ok("dags", "trigger", "ok", "--wait").strip()


# -- listing -----------------------------------------------------------------------------------------
def test_dags_list_json_has_the_documented_fields(cli: Cli) -> None:
    rows = {r["dag_id"]: r for r in cli.json("dags", "list")}
    assert all(set(r) == FIELDS["dags"] for r in rows.values())
    assert set(rows) == {"ok", "fails", "flaky", "scheduled", "pausable"}
    assert rows["ok"] == {
        "dag_id": "ok", "is_paused": False, "schedule": None, "fileloc": str(cli.home / "dags" / "ok.py"), "next_run": None,
    }
    assert rows["scheduled"]["schedule"] == "@daily"
    # the first daily interval starts at start_date; its run is due when the interval ends
    assert datetime.fromisoformat(rows["scheduled"]["next_run"]) == datetime(2100, 1, 2, tzinfo=UTC)


def test_import_errors_json_lists_the_broken_files(cli: Cli) -> None:
    rows = cli.json("import-errors")
    assert [set(r) for r in rows] == [FIELDS["import-errors"]]
    assert rows[0]["filename"] == str(cli.home / "dags" / "broken.py")
    assert "SyntaxError" in rows[0]["message"]


def test_runs_list_json_is_newest_first(cli: Cli) -> None:
    first = cli.run_ok("dags", "trigger", "pausable").strip()
    second = cli.run_ok("dags", "trigger", "pausable").strip()
    rows = cli.json("runs", "list", "pausable")
    assert all(set(r) == FIELDS["runs"] for r in rows)
    ids = [r["run_id"] for r in rows]
    assert ids.index(second) < ids.index(first)
    logical = [datetime.fromisoformat(r["logical_date"]) for r in rows]
    assert logical == sorted(logical, reverse=True)


def test_tasks_list_json_gives_each_task_of_the_run(cli: Cli, ok_run: str) -> None:
    rows = cli.json("tasks", "list", "ok", ok_run)
    assert all(set(r) == FIELDS["tasks"] for r in rows)
    assert [(r["task_id"], r["state"], r["try_number"]) for r in rows] == [("numbers", "success", 1), ("total", "success", 1)]
    assert all(r["start_date"] and r["end_date"] for r in rows)


def test_tasks_logs_prints_the_chosen_try(cli: Cli, flaky_run: str) -> None:
    first = cli.run_ok("tasks", "logs", "flaky", flaky_run, "flaky", "--try", "1")
    second = cli.run_ok("tasks", "logs", "flaky", flaky_run, "flaky", "--try", "2")
    assert "running try 1" in first and "failing on purpose on try 1" in first
    assert "running try 2" in second and "failing on purpose" not in second


# -- triggering ----------------------------------------------------------------------------------------
def test_dags_trigger_prints_the_new_run_id(cli: Cli) -> None:
    run_id = cli.run_ok("dags", "trigger", "pausable", "--conf", '{"limit": 5}').strip()
    assert run_id in [r["run_id"] for r in cli.json("runs", "list", "pausable")]


def test_trigger_wait_exits_0_when_the_run_succeeds(cli: Cli) -> None:
    result = cli.run("dags", "trigger", "ok", "--wait")
    assert result.returncode == 0, result.stderr
    assert "success" in result.stderr


def test_trigger_wait_exits_1_when_the_run_fails(cli: Cli) -> None:
    result = cli.run("dags", "trigger", "fails", "--wait")
    assert result.returncode == 1, result.stderr
    assert "failed" in result.stderr


def test_trigger_wait_says_when_no_scheduler_is_alive(tmp_path: Path) -> None:
    cli = _home_with_dags(tmp_path)
    proc = subprocess.Popen(
        [str(ORCHESTRATOR), "dags", "trigger", "ok", "--wait"], env=cli.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        OutputReader(proc).wait_for("no scheduler is alive", timeout=60)
    finally:
        proc.kill()
        proc.wait(10)


def test_pause_and_unpause_set_is_paused(cli: Cli) -> None:
    def paused() -> bool:
        with cli.sessions() as session:
            return session.get(Dag, "pausable").is_paused

    assert "is paused" in cli.run_ok("dags", "pause", "pausable")
    assert paused() is True
    assert "is unpaused" in cli.run_ok("dags", "unpause", "pausable")
    assert paused() is False


# -- dags test -------------------------------------------------------------------------------------------
def test_dags_test_prints_each_tasks_outcome(cli: Cli) -> None:
    out = cli.run_ok("dags", "test", "ok").splitlines()
    outcomes = {line.split()[0]: line.split()[1] for line in out if not line.startswith("run ")}
    assert outcomes == {"numbers": "success", "total": "success"}
    assert out[-1].startswith("run test__") and out[-1].endswith(": success")


def test_dags_test_exits_1_when_the_run_fails(cli: Cli) -> None:
    result = cli.run("dags", "test", "fails")
    assert result.returncode == 1
    assert "boom" in result.stdout and "failed" in result.stdout


# -- mistakes ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["dags", "trigger"],
        ["dags", "list", "--no-such-option"],
        ["tasks", "logs", "ok", "some_run", "numbers", "--try", "0"],
        ["no-such-command"],
    ],
    ids=["missing-argument", "unknown-option", "try-below-1", "unknown-command"],
)
def test_wrong_arguments_exit_2_with_usage(cli: Cli, args: list[str]) -> None:
    result = cli.run(*args)
    assert result.returncode == 2
    assert "Usage: orchestrator" in result.stderr and "Error:" in result.stderr


@pytest.mark.parametrize(
    ("conf", "complaint"),
    [("{not json", "not valid JSON"), ("[1, 2]", "must be a JSON object")],
    ids=["not-json", "not-an-object"],
)
def test_bad_conf_exits_2_naming_the_option(cli: Cli, conf: str, complaint: str) -> None:
    result = cli.run("dags", "trigger", "ok", "--conf", conf)
    assert result.returncode == 2
    assert "--conf" in result.stderr and complaint in result.stderr


@pytest.mark.parametrize(
    "args",
    [["dags", "trigger", "nope"], ["dags", "pause", "nope"], ["dags", "test", "nope"], ["runs", "list", "nope"]],
    ids=["trigger", "pause", "test", "runs-list"],
)
def test_unknown_dag_id_exits_2_naming_it(cli: Cli, args: list[str]) -> None:
    result = cli.run(*args)
    assert result.returncode == 2
    assert "no DAG with id 'nope'" in result.stderr


def test_unknown_run_id_exits_2_naming_it(cli: Cli) -> None:
    result = cli.run("tasks", "list", "ok", "no_such_run")
    assert result.returncode == 2
    assert "'no_such_run'" in result.stderr


@pytest.mark.parametrize("args", [["dags", "list"], ["scheduler"]], ids=["dags-list", "scheduler"])
def test_database_without_schema_names_db_upgrade(tmp_path: Path, args: list[str]) -> None:
    write_dag(tmp_path / "dags", "ok.py", DAGS["ok.py"])
    result = orch(args, cli_env(tmp_path))
    assert result.returncode == 1
    assert "orchestrator db upgrade" in result.stderr
    assert "Traceback" not in result.stderr


# -- users and tokens ------------------------------------------------------------------------------
def test_users_create_then_tokens_create_prints_the_token_alone_on_its_last_line(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    assert orch(["db", "upgrade"], env).returncode == 0
    created = orch(["users", "create", "--username", "ops", "--role", "operator", "--password", "s3cret-pass"], env)
    assert created.returncode == 0, created.stderr
    result = orch(["tokens", "create", "--username", "ops"], env)
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    assert token.startswith("orch_") and " " not in token
    with make_sessionmaker(make_engine(f"sqlite:///{tmp_path / 'orchestrator.db'}"))() as s:
        stored = [row.token_hash for row in s.scalars(select(ApiToken))]
    assert stored and token not in stored and all(len(h) == 64 for h in stored)


def test_users_create_with_an_unknown_role_exits_2(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    orch(["db", "upgrade"], env)
    result = orch(["users", "create", "--username", "x", "--role", "boss", "--password", "p"], env)
    assert result.returncode == 2
    assert "boss" in result.stderr


def test_tokens_create_for_an_unknown_user_exits_2_naming_it(tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    orch(["db", "upgrade"], env)
    result = orch(["tokens", "create", "--username", "ghost"], env)
    assert result.returncode == 2
    assert "ghost" in result.stderr


# -- batches of triggers ---------------------------------------------------------------------------------
def _pausable_runs(cli: Cli) -> dict[str, DagRun]:
    with cli.sessions() as s:
        return {r.run_id: r for r in s.scalars(select(DagRun).where(DagRun.dag_id == "pausable"))}


def test_trigger_count_queues_that_many_runs_in_one_audited_batch(cli: Cli) -> None:
    printed = cli.run_ok("dags", "trigger", "pausable", "--count", "3", "--conf", '{"limit": 2}').split()
    assert len(printed) == 3 and [p.rsplit("__", 1)[1] for p in printed] == ["1", "2", "3"]
    runs = _pausable_runs(cli)
    assert all(runs[p].conf == {"limit": 2} and runs[p].run_type == "manual" for p in printed)
    with cli.sessions() as s:
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "run.trigger_batch").order_by(AuditLog.id.desc())).first()
    assert entry is not None and entry.target == "dag:pausable" and entry.details == {"count": 3, "run_ids": printed}


def test_trigger_conf_file_queues_one_run_a_line_in_order(cli: Cli) -> None:
    lines = ['{"run_id": "file-a", "conf": {"region": "eu"}}', "", '{"conf": {"region": "us"}, "logical_date": "2026-01-02T03:04:05"}']
    (cli.home / "runs.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    printed = cli.run_ok("dags", "trigger", "pausable", "--conf-file", str(cli.home / "runs.jsonl")).split()
    assert printed[0] == "file-a" and printed[1].endswith("__2")
    runs = _pausable_runs(cli)
    assert runs["file-a"].conf == {"region": "eu"}
    assert (runs[printed[1]].conf, runs[printed[1]].logical_date) == ({"region": "us"}, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))


def test_trigger_conf_file_with_a_malformed_line_names_it_and_queues_nothing(cli: Cli) -> None:
    (cli.home / "bad.jsonl").write_text('{"run_id": "never-1"}\n{"conf": {"a": 1}\n', encoding="utf-8")
    before = set(_pausable_runs(cli))
    result = cli.run("dags", "trigger", "pausable", "--conf-file", str(cli.home / "bad.jsonl"))
    assert result.returncode == 2
    assert "line 2: not valid JSON" in result.stderr
    assert set(_pausable_runs(cli)) == before


def test_trigger_conf_file_with_a_run_id_twice_names_both_lines_and_queues_nothing(cli: Cli) -> None:
    (cli.home / "twice.jsonl").write_text('{"run_id": "dup"}\n{"run_id": "other"}\n{"run_id": "dup"}\n', encoding="utf-8")
    result = cli.run("dags", "trigger", "pausable", "--conf-file", str(cli.home / "twice.jsonl"))
    assert result.returncode == 1
    assert "Error: line 3: run_id 'dup' is also given by line 1; nothing was queued" in result.stderr
    assert not {"dup", "other"} & set(_pausable_runs(cli))
