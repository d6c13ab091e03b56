"""The demo DAGs in dags/ do what their docstrings say, run as `dags test` runs them."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.operations.folder_sync import sync_dag_folder
from scheduler import testrun

from .harness import REPO_ROOT, make_config, run_row, task_rows, upgraded_sessions


@pytest.fixture
def fan_out(tmp_path: Path) -> Iterator[tuple[sessionmaker[Session], Config]]:
    (tmp_path / "dags").mkdir()
    shutil.copy(REPO_ROOT / "dags" / "fan_out_fan_in.py", tmp_path / "dags")
    config = make_config(tmp_path, f"sqlite:///{tmp_path / 'orchestrator.db'}")
    sessions = upgraded_sessions(config.resolved_database_url)
    sync_dag_folder(sessions, config)
    yield sessions, config
    sessions.kw["bind"].dispose()


def test_the_fan_out_demo_publishes_when_every_region_succeeds(fan_out: tuple[sessionmaker[Session], Config]) -> None:
    sessions, config = fan_out
    key = testrun.test_run(sessions, config, "fan_out_fan_in", {})
    tasks = task_rows(sessions, key.dag_id, key.run_id)
    assert tasks["publish"].state == "success"
    assert tasks["report"].result["missing"] == []


def test_with_fail_region_the_fan_out_demo_reports_the_missing_region_and_does_not_publish(fan_out: tuple[sessionmaker[Session], Config]) -> None:
    sessions, config = fan_out
    key = testrun.test_run(sessions, config, "fan_out_fan_in", {"fail_region": "apac"})
    tasks = task_rows(sessions, key.dag_id, key.run_id)
    assert tasks["score_apac"].state == "failed"
    assert tasks["report"].state == "success"
    assert tasks["report"].result["missing"] == ["apac"]
    assert tasks["publish"].state == "upstream_failed"
    assert run_row(sessions, key.dag_id, key.run_id).state == "failed"
