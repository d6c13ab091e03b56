"""Fixtures of the REST API tests: a seeded SQLite store, copied for each test, and a client per role.

The store is seeded once per session by real flows (DAG files synced from a folder, runs driven
to the end in-process by `dags test`'s runner, runs queued with create_run, users and tokens);
each test gets its own copy of the file, so tests that change things cannot disturb others.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.test import TestResponse

from orchestrator.core.config import Config
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store import dags as dag_store
from orchestrator.store import definitions as definition_store
from orchestrator.store import run_creation
from orchestrator.store import users as user_store
from orchestrator.store.db import make_engine, make_sessionmaker
from orchestrator.store.users import Role
from scheduler import testrun
from webui import create_app

from ..harness import make_config, upgraded_sessions, write_dag

DAG_FILES = {
    "etl.py": """
        from datetime import datetime
        from orchestrator import DAG, PythonTask
        from tests.fixtures import numbers, succeed

        with DAG("etl", schedule="@daily", start_date=datetime(2024, 1, 1), tags=["etl", "daily"],
                 description="extract, transform, load") as dag:
            extract = PythonTask(task_id="extract", python_callable=numbers)
            transform = PythonTask(task_id="transform", python_callable=succeed)
            load = PythonTask(task_id="load", python_callable=succeed)
            extract >> transform >> load
    """,
    "flaky.py": """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import fail_on_first_try

        with DAG("flaky", tags=["ops"]) as dag:
            PythonTask(task_id="flaky", python_callable=fail_on_first_try, retries=1, retry_delay=0.05)
    """,
    "failing.py": """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import always_fail, succeed

        with DAG("failing", tags=["ops"]) as dag:
            PythonTask(task_id="boom", python_callable=always_fail) >> PythonTask(task_id="after", python_callable=succeed)
    """,
    "quiet.py": """
        from orchestrator import DAG, PythonTask
        from tests.fixtures import succeed

        with DAG("quiet") as dag:
            PythonTask(task_id="only", python_callable=succeed)
    """,
    "broken.py": "def broken(:\n    pass\n",
}
ROLES = ("viewer", "operator", "admin")
SEEDED_DEFINITION = "seeded_flow"


def _seeded_document(delay: str) -> dict[str, Any]:
    return {"workflowId": SEEDED_DEFINITION, "steps": [
        {"stepId": "only", "taskId": "shell", "input": {"command": "true"}, "retryPolicy": {"maxAttempts": 2, "delay": delay}},
    ]}
QUEUED_ETL_RUNS = {"jan": datetime(2024, 1, 1, tzinfo=UTC), "feb": datetime(2024, 2, 1, tzinfo=UTC), "mar": datetime(2024, 3, 1, tzinfo=UTC)}


@dataclass(frozen=True)
class Seed:
    """The seeded store: its file, a bearer token per role, and the run_ids of the finished test runs."""

    db_file: Path  # the SQLite file (unused when seeded into PostgreSQL)
    dags_folder: Path
    tokens: dict[str, str]
    finished: dict[str, str]  # dag_id -> run_id of its finished `test` run


def seed_store(
    home: Path, database_url: str, files: dict[str, str] = DAG_FILES, test_runs: tuple[str, ...] = ("etl", "flaky", "failing")
) -> Seed:
    """Seed the (empty) database at `database_url` with DAGs from `files` in home/dags, a finished run
    of each of `test_runs`, users and tokens; with the default files, also a paused DAG and queued runs."""
    config = make_config(home, database_url, secret_key="seed")
    for name, source in files.items():
        write_dag(config.resolved_dags_folder, name, source)
    sessions = upgraded_sessions(config.resolved_database_url)
    sync_dag_folder(sessions, config)
    now = datetime.now(UTC)
    finished = {dag_id: testrun.test_run(sessions, config, dag_id, {}).run_id for dag_id in test_runs}
    tokens = {}
    with sessions.begin() as s:
        if files is DAG_FILES:
            dag_store.set_paused(s, "quiet", True, now, actor="seed")
            for run_id, logical_date in QUEUED_ETL_RUNS.items():
                run_creation.create_run(
                    s, "etl", run_id=run_id, run_type="manual", logical_date=logical_date, data_interval=None,
                    conf={"month": run_id}, now=now, actor="seed",
                )
            # a definition with two draft versions, neither of which can be published (their delays are not
            # durations): the tests share the seed's DAG folder, where publishing would write
            definition_store.create(s, SEEDED_DEFINITION, _seeded_document("PT5X"), actor="seed", now=now, message=None)
            definition_store.add_version(s, SEEDED_DEFINITION, _seeded_document("PT9X"), actor="seed", now=now, message="another bad delay")
        for role in ROLES:
            user = user_store.create_user(s, role, Role(role), None, now)
            tokens[role] = user_store.create_token(s, user, now)[1]
    sessions.kw["bind"].dispose()
    return Seed(home / "orchestrator.db", config.resolved_dags_folder, tokens, finished)


@pytest.fixture(scope="session")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    home = tmp_path_factory.mktemp("webui_seed")
    return seed_store(home, f"sqlite:///{home / 'orchestrator.db'}")


@dataclass
class Api:
    """A test client of a fresh copy of the seeded store; `call` authenticates as a role (or not at all)."""

    client: FlaskClient
    seed: Seed
    sessions: sessionmaker[Session]
    config: Config

    def call(self, method: str, url: str, *, role: str | None = "admin", json: Any = None, **kwargs: Any) -> TestResponse:
        headers = dict(kwargs.pop("headers", {}))
        if role is not None:
            headers["Authorization"] = f"Bearer {self.seed.tokens[role]}"
        return self.client.open("/api/v1" + url, method=method, headers=headers, json=json, **kwargs)

    def get(self, url: str, **kwargs: Any) -> TestResponse:
        return self.call("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> TestResponse:
        return self.call("POST", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> TestResponse:
        return self.call("PATCH", url, **kwargs)


def copy_store(seed: Seed, folder: Path) -> Path:
    target = folder / "orchestrator.db"
    shutil.copyfile(seed.db_file, target)
    return target


@pytest.fixture
def api(seed: Seed, tmp_path: Path) -> Iterator[Api]:
    db = copy_store(seed, tmp_path)
    config = make_config(tmp_path, f"sqlite:///{db}", secret_key="test", dags_folder=seed.dags_folder)
    sessions = make_sessionmaker(make_engine(config.resolved_database_url))
    app = create_app(config, sessions=sessions)
    app.config["TESTING"] = True
    yield Api(app.test_client(), seed, sessions, config)
    sessions.kw["bind"].dispose()
