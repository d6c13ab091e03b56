"""A timetable from a plugin file in the plugins folder schedules a DAG: the DAG folder's sync
computes its next run from the plugin's ticks, and the schedule math cuts intervals between them."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.config import Config
from orchestrator.folder_sync import sync_dag_folder
from orchestrator.plugins import load_plugins
from orchestrator.schedule import DataInterval, intervals_between, next_interval
from orchestrator.store import queries

from .harness import REPO_ROOT, make_config, upgraded_sessions, write_dag

DAG = """
    from datetime import datetime
    from orchestrator import DAG, EmptyTask

    with DAG("weekdays", schedule="timetable:business_days", start_date=datetime(2026, 1, 1), catchup=True) as dag:
        EmptyTask(task_id="work")
"""


def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Config, sessionmaker[Session]]:
    (tmp_path / "plugins").mkdir()
    shutil.copy(REPO_ROOT / "plugins" / "business_days.py", tmp_path / "plugins" / "business_days.py")
    write_dag(tmp_path / "dags", "weekdays.py", DAG)
    # the DAG file's parse (a child process) loads the plugins its configuration names
    monkeypatch.setenv("ORCH_PLUGINS_FOLDER", str(tmp_path / "plugins"))
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}", plugins_folder=tmp_path / "plugins")
    load_plugins(config)  # as the scheduler does when it starts
    return config, upgraded_sessions(config.resolved_database_url)


def test_the_dag_folder_sync_schedules_the_dag_on_the_plugins_ticks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config, sessions = _home(tmp_path, monkeypatch)
    sync_dag_folder(sessions, config)
    with sessions() as s:
        dag = queries.get_dag(s, "weekdays")
    assert dag.schedule == "timetable:business_days"
    # 2026-01-01 is a Thursday: the first interval runs to Friday 06:00
    assert dag.next_run_at == datetime(2026, 1, 2, 6, tzinfo=UTC)


def test_fridays_interval_spans_the_weekend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch)
    after_friday = next_interval(
        "timetable:business_days", "UTC", datetime(2026, 1, 2, 6, tzinfo=UTC),
        DataInterval(datetime(2026, 1, 1, 6, tzinfo=UTC), datetime(2026, 1, 2, 6, tzinfo=UTC)),
        datetime(2026, 1, 6, tzinfo=UTC), catchup=True,
    )
    assert after_friday == DataInterval(datetime(2026, 1, 2, 6, tzinfo=UTC), datetime(2026, 1, 5, 6, tzinfo=UTC))


def test_a_backfill_over_a_week_has_five_intervals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _home(tmp_path, monkeypatch)
    found = intervals_between("timetable:business_days", "UTC", datetime(2026, 1, 5), datetime(2026, 1, 11), datetime(2026, 2, 1, tzinfo=UTC))
    assert [i.start.day for i in found] == [5, 6, 7, 8, 9]
