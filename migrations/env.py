"""Alembic environment: runs against the engine orchestrator.store.db hands over, or ORCH_DATABASE_URL."""

from __future__ import annotations

from alembic import context

from orchestrator.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        from orchestrator.core.config import load_config
        from orchestrator.store.db import make_engine

        engine = make_engine(load_config().resolved_database_url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations_online()
