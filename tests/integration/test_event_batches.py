"""Storing many outside events at once (`POST /api/v1/events/batch`): a transaction per chunk, so
no transaction holds the database's writer for long; a failure keeps the chunks before it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.store import changes as change_store
from orchestrator.store import external_events as event_store
from orchestrator.store.external_events import EventBatchError, NewEvent
from orchestrator.store.models import ExternalEvent

from .harness import upgraded_sessions

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    made = upgraded_sessions(database_url)
    yield made
    made.kw["bind"].dispose()


def _events(n: int, prefix: str = "e") -> list[NewEvent]:
    return [NewEvent("order.created", {"n": i}, f"{prefix}-{i}") for i in range(n)]


def _stored(sessions: sessionmaker[Session]) -> list[str | None]:
    with sessions() as s:
        return list(s.scalars(select(ExternalEvent.event_id).order_by(ExternalEvent.id)))


def _counter(sessions: sessionmaker[Session]) -> int:
    with sessions() as s:
        return change_store.current(s)


def test_a_big_post_is_stored_in_one_transaction_per_chunk(sessions: sessionmaker[Session]) -> None:
    chunks: list[int] = []
    before = _counter(sessions)
    posted = event_store.post_many(sessions, _events(7), NOW, "test", chunk=3, on_chunk=lambda s, pks: chunks.append(len(pks)))
    assert chunks == [3, 3, 1]
    assert _counter(sessions) == before + 3  # each commit bumps the change counter once
    assert [created for _, created in posted] == [True] * 7
    assert _stored(sessions) == [f"e-{i}" for i in range(7)]


def test_a_failing_chunk_keeps_the_chunks_before_it_and_nothing_after(sessions: sessionmaker[Session]) -> None:
    calls = []

    def fail_second(session: Session, pks: list[int]) -> None:
        calls.append(pks)
        if len(calls) == 2:
            session.execute(text("SELECT * FROM no_such_table"))  # a real database error, mid-chunk

    with pytest.raises(EventBatchError, match=r"^stored 3 of 7 events, then failed") as failed:
        event_store.post_many(sessions, _events(7), NOW, "test", chunk=3, on_chunk=fail_second)
    assert failed.value.stored == 3
    assert _stored(sessions) == ["e-0", "e-1", "e-2"]
    again = event_store.post_many(sessions, _events(7), NOW, "test", chunk=3)
    assert [created for _, created in again] == [False] * 3 + [True] * 4
    assert _stored(sessions) == [f"e-{i}" for i in range(7)]


def test_an_id_given_twice_or_posted_before_is_stored_once(sessions: sessionmaker[Session]) -> None:
    (first, _), = event_store.post_many(sessions, [NewEvent("a", {}, "known")], NOW, "test")
    items = [NewEvent("a", {}, "new"), NewEvent("a", {}, "known"), NewEvent("a", {"x": 1}, "new"), NewEvent("a", {}, None)]
    posted = event_store.post_many(sessions, items, NOW, "test", chunk=2)
    assert posted[1] == (first, False)
    assert posted[0][1] is True and posted[2] == (posted[0][0], False) and posted[3][1] is True
    assert _stored(sessions) == ["known", "new", None]
