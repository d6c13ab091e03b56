"""DAG versions in the store: numbered as they are first parsed, and numbered by the migration for
the versions stored before numbers existed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, text

from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store.db import make_engine, make_sessionmaker, upgrade
from orchestrator.store.models import Dag, DagVersion

from .harness import make_config, upgraded_sessions, write_dag

DAG = """
    from orchestrator import DAG, PythonTask
    from tests.fixtures import succeed

    with DAG("versioned") as dag:
        PythonTask(task_id="a", python_callable=succeed, retries={retries})
"""
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def test_each_change_of_the_spec_gets_the_next_number_and_when_it_was_parsed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    config, sessions = make_config(tmp_path, url), upgraded_sessions(url)
    for n, retries in enumerate((0, 1, 2)):
        write_dag(config.resolved_dags_folder, "versioned.py", DAG.format(retries=retries))
        sync_dag_folder(sessions, config, lambda n=n: T0 + timedelta(hours=n))
    with sessions() as s:
        versions = s.scalars(select(DagVersion).where(DagVersion.dag_id == "versioned").order_by(DagVersion.version_number)).all()
        assert [(v.version_number, v.created_at, v.spec["tasks"][0]["retries"]) for v in versions] == [
            (1, T0, 0), (2, T0 + timedelta(hours=1), 1), (3, T0 + timedelta(hours=2), 2)
        ]
        assert s.get(Dag, "versioned").version_hash == versions[-1].version_hash


def test_a_spec_changed_back_is_its_earlier_version_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    config, sessions = make_config(tmp_path, url), upgraded_sessions(url)
    # the file is saved three times; the third spec is the first again (only a comment differs)
    for source in (DAG.format(retries=0), DAG.format(retries=1), DAG.format(retries=0) + "    # back to no retries\n"):
        write_dag(config.resolved_dags_folder, "versioned.py", source)
        sync_dag_folder(sessions, config, lambda: T0)
    with sessions() as s:
        numbers = {v.version_hash: v.version_number for v in s.scalars(select(DagVersion))}
        assert len(numbers) == 2
        assert numbers[s.get(Dag, "versioned").version_hash] == 1


def test_the_migration_numbers_stored_versions_by_when_they_were_first_parsed(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0006")
        with engine.begin() as conn:
            for dag_id, version_hash, hours in [("a", "h-late", 2), ("a", "h-early", 0), ("a", "h-mid", 1), ("b", "h-only", 5)]:
                conn.execute(
                    text("INSERT INTO dag_version (dag_id, version_hash, spec, created_at) VALUES (:d, :h, '{}', :at)"),
                    {"d": dag_id, "h": version_hash, "at": (T0 + timedelta(hours=hours)).replace(tzinfo=None)},
                )
        upgrade(engine)
        with make_sessionmaker(engine)() as s:
            numbers = {(v.dag_id, v.version_hash): v.version_number for v in s.scalars(select(DagVersion))}
        assert numbers == {("a", "h-early"): 1, ("a", "h-mid"): 2, ("a", "h-late"): 3, ("b", "h-only"): 1}
    finally:
        engine.dispose()
