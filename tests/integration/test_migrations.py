"""The schema comes only from Alembic, and the migrations build exactly what the models describe."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from orchestrator.store.db import current_revision, head_revision, make_engine, upgrade
from orchestrator.store.models import Base

from .harness import cli_env, orch


def test_migrations_at_head_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_db_upgrade_is_idempotent(database_url: str, tmp_path: Path) -> None:
    env = cli_env(tmp_path, database_url=database_url)
    first = orch(["db", "upgrade"], env)
    assert first.returncode == 0, first.stderr
    engine = make_engine(database_url)
    try:
        tables_after_first = sorted(inspect(engine).get_table_names())
        second = orch(["db", "upgrade"], env)
        assert second.returncode == 0, second.stderr
        assert "up to date" in second.stdout
        assert sorted(inspect(engine).get_table_names()) == tables_after_first
        assert current_revision(engine) == head_revision()
    finally:
        engine.dispose()
