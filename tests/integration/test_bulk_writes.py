"""The scheduler's bulk writes (orchestrator.store.bulk) store what an ORM insert would, on a real SQLite file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import select

from orchestrator.models import Event
from orchestrator.store.bulk import insert_many, times_remembered

from .harness import upgraded_sessions

AT = datetime(2026, 12, 6, 10, 0, 0, 250_000, UTC)


def _event(at: datetime, reason: str) -> dict[str, object]:
    return {"kind": "task.success", "at": at, "dag_id": "d", "run_id": "r", "task_id": "t", "reason": reason, "payload": None}


def test_times_shared_by_many_rows_are_stored_as_each_row_gave_them(tmp_path: Path) -> None:
    sessions = upgraded_sessions(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    later = AT + timedelta(microseconds=1)
    in_another_zone = AT.astimezone(timezone(timedelta(hours=5)))
    with sessions.begin() as session, times_remembered(session):
        insert_many(session, Event.__table__, [_event(AT, "a"), _event(later, "b"), _event(AT, "c")])
        insert_many(session, Event.__table__, [_event(in_another_zone, "d"), _event(later, "e")])
    with sessions() as session:
        stored = {e.reason: e.at for e in session.scalars(select(Event))}
    assert stored == {"a": AT, "b": later, "c": AT, "d": AT, "e": later}


def test_the_memory_of_times_ends_with_its_block(tmp_path: Path) -> None:
    sessions = upgraded_sessions(f"sqlite:///{tmp_path / 'orchestrator.db'}")
    with sessions.begin() as session:
        with times_remembered(session):
            insert_many(session, Event.__table__, [_event(AT, "a")])
        assert not any(key.startswith("orchestrator.bulk_times") for key in session.info)
