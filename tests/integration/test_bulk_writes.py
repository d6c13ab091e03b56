"""The scheduler's bulk writes (orchestrator.store.bulk) store what an ORM insert or update would:
on a real SQLite file, and on PostgreSQL (COPY and one UPDATE over arrays)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.store.bulk import insert_many, times_remembered, update_many
from orchestrator.store.models import Event, TaskTry

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


def _try(task_id: str, **values: object) -> dict[str, object]:
    return {"dag_id": "d", "run_id": "r", "task_id": task_id, "map_index": -1, "try_number": 1, "state": "running",
            "start_date": AT, "worker": "w", "log": "", **values}


def _tries(sessions: sessionmaker[Session]) -> dict[str, tuple[object, ...]]:
    with sessions() as session:
        return {t.task_id: (t.state, t.end_date, t.error, t.rendered) for t in session.scalars(select(TaskTry))}


def test_many_rows_inserted_together_keep_their_times_json_and_nulls(database_url: str) -> None:
    sessions = upgraded_sessions(database_url)
    with sessions.begin() as session, times_remembered(session):
        insert_many(session, TaskTry.__table__, [
            _try("a", rendered={"cmd": "echo 'a'\n\\t"}), _try("b", rendered=None, error="tab\there"), _try("c", end_date=AT),
        ])
    assert _tries(sessions) == {
        "a": ("running", None, None, {"cmd": "echo 'a'\n\\t"}),
        "b": ("running", None, "tab\there", None),
        "c": ("running", AT, None, None),
    }


def test_many_rows_updated_together_each_get_their_own_values(database_url: str) -> None:
    sessions = upgraded_sessions(database_url)
    later = AT + timedelta(seconds=1)
    with sessions.begin() as session:
        insert_many(session, TaskTry.__table__, [_try("a"), _try("b"), _try("c")])
    with sessions.begin() as session, times_remembered(session):
        update_many(session, TaskTry.__table__, [
            {"k_dag_id": "d", "k_run_id": "r", "k_task_id": t, "k_map_index": -1, "k_try_number": 1, "state": s, "end_date": later,
             "error": e, "rendered": r}
            for t, s, e, r in [("a", "success", None, {"x": 1}), ("b", "failed", "boom", None)]
        ], ("dag_id", "run_id", "task_id", "map_index", "try_number"))
    assert _tries(sessions) == {
        "a": ("success", later, None, {"x": 1}), "b": ("failed", later, "boom", None), "c": ("running", None, None, None),
    }


def test_a_guarded_update_leaves_rows_no_longer_in_the_state_it_expects(database_url: str) -> None:
    sessions = upgraded_sessions(database_url)
    with sessions.begin() as session:
        insert_many(session, TaskTry.__table__, [_try("a"), _try("b", state="cancelled")])
    with sessions.begin() as session:
        update_many(session, TaskTry.__table__, [
            {"k_dag_id": "d", "k_run_id": "r", "k_task_id": t, "k_map_index": -1, "k_try_number": 1, "k_from": "running", "state": "success"}
            for t in ("a", "b")
        ], ("dag_id", "run_id", "task_id", "map_index", "try_number"), guard="state")
    assert {t: v[0] for t, v in _tries(sessions).items()} == {"a": "success", "b": "cancelled"}


def test_two_updates_of_one_row_in_one_write_apply_in_order(database_url: str) -> None:
    sessions = upgraded_sessions(database_url)
    with sessions.begin() as session:
        insert_many(session, TaskTry.__table__, [_try("a")])
    with sessions.begin() as session:
        update_many(session, TaskTry.__table__, [
            {"k_dag_id": "d", "k_run_id": "r", "k_task_id": "a", "k_map_index": -1, "k_try_number": 1, "state": s}
            for s in ("failed", "success")
        ], ("dag_id", "run_id", "task_id", "map_index", "try_number"))
    assert _tries(sessions)["a"][0] == "success"


def test_inserting_a_row_whose_key_is_taken_is_an_integrity_error(database_url: str) -> None:
    sessions = upgraded_sessions(database_url)
    with sessions.begin() as session:
        insert_many(session, TaskTry.__table__, [_try("a")])
    with pytest.raises(IntegrityError), sessions.begin() as session:
        insert_many(session, TaskTry.__table__, [_try("b"), _try("a")])
    assert set(_tries(sessions)) == {"a"}
