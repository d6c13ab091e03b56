"""Shared fixtures: an isolated ORCH_* environment, and databases (SQLite files, the local PostgreSQL).

PostgreSQL tests are marked `postgres` and get a fresh, uniquely named database on
127.0.0.1:5432 (user postgres) that is dropped afterwards. When that server is unreachable they
skip, unless ORCH_TEST_POSTGRES=1 or CI=true asks for them, in which case they fail.

The suite runs on several processes (pytest-xdist, `--numprocesses` in pyproject.toml). Each
process has its own temporary directories, ORCH_HOME, databases and session fixtures; what must
not be split is kept together by `work_unit` below.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
# DAG files written by tests import `tests.fixtures`; child processes (loader, Dask workers)
# inherit sys.path, subprocesses get PYTHONPATH from the integration harness.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
POSTGRES_USER = "postgres"


def postgres_required() -> bool:
    """Whether an unreachable PostgreSQL must fail the PostgreSQL tests instead of skipping them."""
    return os.environ.get("ORCH_TEST_POSTGRES") == "1" or os.environ.get("CI", "").lower() == "true"


def postgres_url(database: str) -> str:
    return f"postgresql+psycopg://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{database}"


def _admin_connect():  # noqa: ANN202 - a psycopg connection
    import psycopg

    return psycopg.connect(
        host=POSTGRES_HOST, port=POSTGRES_PORT, user=POSTGRES_USER, dbname="postgres", autocommit=True, connect_timeout=3
    )


@contextmanager
def temporary_postgres_database(prefix: str = "orch_test") -> Iterator[str]:
    """A new, empty database; yields its SQLAlchemy URL and drops it (even if still in use) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield postgres_url(name)
    finally:
        with _admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def work_unit(nodeid: str) -> str:
    """Which tests run together on one process: every browser test (one server and one Chromium
    for all of them), else the tests of one file (its module-scoped fixtures, such as a scheduler
    scenario, a cluster or a live server, start once)."""
    path = nodeid.split("::", 1)[0]
    return "tests/e2e" if path.startswith("tests/e2e/") else path


def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object:
    """pytest-xdist's load-scope scheduling, with `work_unit` as the scope. (Its loadgroup mode
    cannot be used: it renames node ids, which pytest 9 no longer reads.)"""
    from xdist.scheduler import LoadScopeScheduling

    class WorkUnitScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return WorkUnitScheduling(config, log)


@pytest.fixture(scope="session", autouse=True)
def _isolated_orch_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No ORCH_* setting (or ~/orchestrator/orchestrator.toml) of the developer leaks into a test."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("ORCH_") and name != "ORCH_TEST_POSTGRES":
                mp.delenv(name)
        mp.setenv("ORCH_HOME", str(tmp_path_factory.mktemp("orch_home")))
        yield


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The local PostgreSQL's admin URL; skips (or fails when required) if it is unreachable."""
    import psycopg

    try:
        with _admin_connect() as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as exc:
        why = " ".join(str(exc).split())
        reason = f"PostgreSQL at {POSTGRES_HOST}:{POSTGRES_PORT} (user {POSTGRES_USER}) is unreachable: {why}"
        if postgres_required():
            pytest.fail(f"{reason} (required because ORCH_TEST_POSTGRES=1 or CI=true)")
        pytest.skip(f"{reason}; set ORCH_TEST_POSTGRES=1 to make this a failure")
    return postgres_url("postgres")


DATABASE_KINDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@contextmanager
def database_of_kind(request: pytest.FixtureRequest, kind: str, folder: Path) -> Iterator[str]:
    """An empty database of `kind` ("sqlite": a file in `folder`; "postgres": a new database)."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'orchestrator.db'}"
        return
    request.getfixturevalue("postgres_server")
    with temporary_postgres_database() as url:
        yield url


@pytest.fixture(params=DATABASE_KINDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database, once on SQLite and once on PostgreSQL (marked `postgres`)."""
    with database_of_kind(request, request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=DATABASE_KINDS)
def module_database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Like `database_url`, shared by the tests of one module (for expensive scenarios)."""
    with database_of_kind(request, request.param, tmp_path_factory.mktemp("db")) as url:
        yield url
