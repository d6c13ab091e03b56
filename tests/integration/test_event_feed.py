"""Reading the event log forward from a cursor, on a real SQLite file and a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.store import event_feed, events
from orchestrator.store.models import Event

from .harness import upgraded_sessions


@pytest.fixture
def sessions(database_url: str) -> sessionmaker[Session]:
    return upgraded_sessions(database_url)


def _append(sessions: sessionmaker[Session], *run_ids: str) -> None:
    with sessions.begin() as s:
        events.append(s, [events.event("run.queued", datetime.now(UTC), dag_id="d", run_id=r) for r in run_ids])


def _read(cursor: event_feed.EventCursor, sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as s:
        return [r.run_id for r in cursor.read(s)]


def test_a_cursor_reads_each_event_once_in_order(sessions: sessionmaker[Session]) -> None:
    cursor = event_feed.EventCursor()
    _append(sessions, "a", "b")
    assert _read(cursor, sessions) == ["a", "b"]
    assert _read(cursor, sessions) == []
    _append(sessions, "c")
    assert _read(cursor, sessions) == ["c"]


def test_a_cursor_started_at_the_last_id_sees_only_what_comes_after(sessions: sessionmaker[Session]) -> None:
    _append(sessions, "old")
    with sessions() as s:
        cursor = event_feed.EventCursor(position=event_feed.last_event_id(s))
    _append(sessions, "new")
    assert _read(cursor, sessions) == ["new"]


def test_a_cursor_reads_in_batches(sessions: sessionmaker[Session]) -> None:
    _append(sessions, *"abcde")
    cursor = event_feed.EventCursor(batch=2)
    assert [_read(cursor, sessions) for _ in range(4)] == [["a", "b"], ["c", "d"], ["e"], []]


@pytest.mark.postgres
def test_an_event_committed_after_a_later_id_is_still_read(postgres_server: str) -> None:
    """On PostgreSQL a transaction may take id n, another n+1 and commit first: the cursor
    that saw n+1 asks for n again, and gets it once it commits."""
    from tests.conftest import temporary_postgres_database

    with temporary_postgres_database() as url:
        sessions = upgraded_sessions(url)
        cursor = event_feed.EventCursor()
        slow = sessions()
        slow.begin()
        events.append(slow, [events.event("run.queued", datetime.now(UTC), dag_id="d", run_id="slow")])  # takes the lower id
        _append(sessions, "quick")
        assert _read(cursor, sessions) == ["quick"]
        assert len(cursor.gaps) == 1
        slow.commit()
        slow.close()
        assert _read(cursor, sessions) == ["slow"]
        assert cursor.gaps == {}
        sessions.kw["bind"].dispose()


def test_a_gap_that_never_fills_is_forgotten_after_a_while(sessions: sessionmaker[Session]) -> None:
    now = [0.0]
    cursor = event_feed.EventCursor(clock=lambda: now[0])
    _append(sessions, "a", "b")
    with sessions.begin() as s:  # a rolled-back insert leaves a hole in the ids
        s.execute(Event.__table__.delete().where(Event.run_id == "a"))
    assert _read(cursor, sessions) == ["b"]
    assert set(cursor.gaps) == {cursor.position - 1}
    now[0] = event_feed.GAP_WAIT_S + 1
    assert _read(cursor, sessions) == []
    assert cursor.gaps == {}
