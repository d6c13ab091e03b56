"""Logs that outgrow their row go to the log store (files under $ORCH_HOME/logs by default) and are
read back through it; a purge deletes them. On a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import load_config
from orchestrator.core.errors import ConfigError
from orchestrator.plugins.log_store import LogStores, offload
from orchestrator.store import queries
from orchestrator.store import retention as store
from orchestrator.store.models import DagRun, TaskTry
from orchestrator.store.retention import Selection

from .harness import cli_env, upgraded_sessions
from .test_connections_cli import run

# the runs here are made as rows, with no event history to replay
pytestmark = pytest.mark.rows_changed_behind_the_log

NOW = datetime.now(UTC)
LONG = "".join(f"line {i}\n" for i in range(400))  # 3890 characters


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    sessions = upgraded_sessions(database_url)
    yield sessions
    sessions.kw["bind"].dispose()


@pytest.fixture
def stores(tmp_path: Path) -> LogStores:
    return LogStores.configured(load_config(home=tmp_path, log_offload_chars=2048, log_head_chars=100))


def add_try(sessions: sessionmaker[Session], run_id: str, state: str, log: str, *, task_id: str = "t", map_index: int = -1) -> None:
    with sessions.begin() as s:
        if s.get(DagRun, ("etl", run_id)) is None:
            s.add(DagRun(dag_id="etl", run_id=run_id, state="success", run_type="manual", version_hash="v", logical_date=NOW - timedelta(days=40),
                         queued_at=NOW - timedelta(days=40), end_date=NOW - timedelta(days=40), conf={}))
        s.add(TaskTry(dag_id="etl", run_id=run_id, task_id=task_id, map_index=map_index, try_number=1, state=state, log=log))


def get_try(sessions: sessionmaker[Session], run_id: str, task_id: str = "t", map_index: int = -1) -> TaskTry:
    with sessions() as s:
        return s.scalars(select(TaskTry).where(TaskTry.run_id == run_id, TaskTry.task_id == task_id, TaskTry.map_index == map_index)).one()


def test_a_long_finished_log_moves_to_a_file_and_its_row_keeps_the_head(sessions: sessionmaker[Session], stores: LogStores, tmp_path: Path) -> None:
    add_try(sessions, "manual__2026-11-01T00:00:00+00:00", "success", LONG)
    assert offload(sessions, stores) == 1
    row = get_try(sessions, "manual__2026-11-01T00:00:00+00:00")
    assert row.log == LONG[:100] and row.log_size == len(LONG)
    assert row.log_ref == "file:etl/manual__2026-11-01T00:00:00+00:00/t/1.log"
    assert (tmp_path / "logs" / "etl" / "manual__2026-11-01T00:00:00+00:00" / "t" / "1.log").read_text() == LONG
    assert stores.text(row) == LONG


def test_short_logs_and_running_tries_stay_in_their_rows(sessions: sessionmaker[Session], stores: LogStores) -> None:
    add_try(sessions, "r", "success", "short\n")
    add_try(sessions, "r", "running", LONG, task_id="busy")
    assert offload(sessions, stores) == 0
    assert get_try(sessions, "r").log_ref is None and get_try(sessions, "r", "busy").log == LONG


def test_a_mapped_instance_and_an_odd_task_id_get_their_own_file(sessions: sessionmaker[Session], stores: LogStores, tmp_path: Path) -> None:
    add_try(sessions, "r", "failed", LONG, task_id="grp/../x", map_index=3)
    offload(sessions, stores)
    row = get_try(sessions, "r", "grp/../x", 3)
    assert row.log_ref == "file:etl/r/grp%2F..%2Fx@3/1.log"
    assert stores.text(row) == LONG
    assert [p.relative_to(tmp_path) for p in (tmp_path / "logs").rglob("*.log")] == [Path("logs/etl/r/grp%2F..%2Fx@3/1.log")]


def test_reading_a_slice_and_the_length_go_through_the_store(sessions: sessionmaker[Session], stores: LogStores) -> None:
    add_try(sessions, "r", "success", LONG)
    offload(sessions, stores)
    with sessions() as s:
        chunk, length, state = queries.try_log_slice(s, "etl", "r", "t", 1, offset=3000, limit=20, read_ref=stores.read)
        lengths = queries.try_log_lengths(s, "etl", "r", "t")
    assert (chunk, length, state) == (LONG[3000:3020], len(LONG), "success")
    assert lengths == {1: len(LONG)}


def test_a_purge_deletes_the_runs_log_files(sessions: sessionmaker[Session], stores: LogStores, tmp_path: Path) -> None:
    add_try(sessions, "r", "success", LONG)
    offload(sessions, stores)
    store.purge(sessions, Selection(cutoff=NOW - timedelta(days=30)), delete_logs=stores.delete)
    assert list((tmp_path / "logs").rglob("*")) == []


def test_cli_tasks_logs_prints_the_whole_moved_log(sessions: sessionmaker[Session], database_url: str, tmp_path: Path) -> None:
    env = cli_env(tmp_path, database_url=database_url, log_offload_chars=2048)
    add_try(sessions, "r", "success", LONG)
    offload(sessions, LogStores.configured(load_config(home=tmp_path, log_offload_chars=2048)))
    result = run(["tasks", "logs", "etl", "r", "t", "--try", "1"], env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == LONG


def test_an_unknown_log_store_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no log store 's3'; known: file"):
        LogStores.configured(load_config(home=tmp_path, log_store="s3"))
