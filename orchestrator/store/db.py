"""Engine and sessions, SQLite tuning, and schema upgrades through Alembic."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.errors import DatabaseError, SchemaNotReadyError


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`. SQLite gets WAL, synchronous=NORMAL and a busy timeout."""
    if is_sqlite(url):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            # take over transaction control so BEGIN IMMEDIATE avoids lock-upgrade deadlocks
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # writers take the lock up front (no read-to-write upgrade deadlocks); readers never do
            if conn.get_execution_options().get(READONLY_OPTION):
                conn.exec_driver_sql("BEGIN")
            else:
                conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return create_engine(url, pool_pre_ping=True, **kwargs)


READONLY_OPTION = "orchestrator_readonly"


def make_sessionmaker(engine: Engine, *, readonly: bool = False) -> sessionmaker[Session]:
    """Sessions on `engine`; `readonly` ones never take SQLite's write lock, so they cannot block writers."""
    bind = engine.execution_options(**{READONLY_OPTION: True}) if readonly else engine
    return sessionmaker(bind, expire_on_commit=False)


def migrations_dir() -> Path:
    import migrations

    return Path(migrations.__file__).parent


def _alembic_config(engine: Engine) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir()))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (idempotent)."""
    from alembic import command

    try:
        command.upgrade(_alembic_config(engine), revision)
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database at {engine.url.render_as_string()}: {exc.orig}") from exc


def head_revision() -> str:
    from alembic.config import Config as AlembicConfig
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(migrations_dir()))
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_schema(engine: Engine) -> None:
    """Raise SchemaNotReadyError unless the schema is at head; DatabaseError if unreachable."""
    try:
        current = current_revision(engine)
        has_tables = bool(inspect(engine).get_table_names())
    except OperationalError as exc:
        raise DatabaseError(f"cannot reach the database at {engine.url.render_as_string()}: {exc.orig}") from exc
    except SQLAlchemyError as exc:
        raise DatabaseError(f"database error at {engine.url.render_as_string()}: {exc}") from exc
    head = head_revision()
    if current != head:
        state = "has no schema" if not has_tables and current is None else f"is at revision {current}, not {head}"
        raise SchemaNotReadyError(
            f"the database at {engine.url.render_as_string()} {state}: run `orchestrator db upgrade`"
        )


def _lock_key(name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"orchestrator:{name}".encode()).digest()[:8], "big", signed=True)


@contextmanager
def exclusive_section(engine: Engine, name: str) -> Iterator[None]:
    """Run the block while no other process runs a block of the same name against this database.

    PostgreSQL: a session-level advisory lock on a connection of its own, waited for. SQLite:
    nothing to do, since writers already take turns (and SQLite allows a single scheduler).
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _lock_key(name)})
        conn.commit()
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _lock_key(name)})
            conn.commit()


def try_decision_lock(session: Session, name: str) -> bool:
    """Take the lock on one decision that must have a single writer at a time (creating the due cron
    runs, say) for the rest of the session's transaction; False when another scheduler holds it.

    PostgreSQL: a transaction-level advisory lock, released at commit or rollback. SQLite: always
    True, as SQLite allows a single scheduler.
    """
    if session.get_bind().dialect.name != "postgresql":
        return True
    return bool(session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _lock_key(name)}).scalar())
