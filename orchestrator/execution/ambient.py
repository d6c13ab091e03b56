"""The store as code running in a task sees it: Variables and pushed XCom values.

A task reaches the database with its process's own configuration (ORCH_* in the environment), as
the scheduler does: the same machine, a LocalCluster worker or `dags test`. One engine per
process and database URL, opened on first use; a worker that cannot reach the database gets a
StoreUnreachableError naming what to do (ORCH_VAR_<KEY> still works there).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.connections import note_secret
from orchestrator.core.errors import DatabaseError
from orchestrator.core.variables import (
    MISSING,
    VariableNotFoundError,
    as_text,
    check_key,
    decode,
    env_name,
    from_env,
    is_sensitive,
)

_lock = threading.Lock()
_sessions: dict[str, tuple[sessionmaker[Session], Any]] = {}


class StoreUnreachableError(DatabaseError):
    """Code in a task asked the store for something (a Variable, an XCom value) and the database cannot be reached."""


def open_store() -> tuple[sessionmaker[Session], Any]:
    """The store's sessions and the connection secrets' crypter, from the task's configuration."""
    from orchestrator.core.config import load_config
    from orchestrator.store.connections import crypter
    from orchestrator.store.db import make_engine, make_sessionmaker

    config = load_config()
    url = config.resolved_database_url
    with _lock:
        if url not in _sessions:
            _sessions[url] = (make_sessionmaker(make_engine(url)), crypter(config))
        return _sessions[url]


@contextmanager
def store_session(what: str) -> Iterator[tuple[Session, Any]]:
    """A session on the store in one transaction (with the crypter); StoreUnreachableError naming `what` if the database cannot be reached."""
    try:
        sessions, f = open_store()
        with sessions.begin() as session:
            yield session, f
    except SQLAlchemyError as exc:
        raise StoreUnreachableError(
            f"{what}: the database cannot be reached from this process ({type(exc).__name__}: {exc}); "
            "give this worker ORCH_DATABASE_URL, or set the variable as ORCH_VAR_<KEY> in its environment"
        ) from None


def stored_variable(key: str) -> Any | None:
    """The variable's stored value, or None when it does not exist."""
    from orchestrator.store import variables as variable_store

    with store_session(f"Variable.get({key!r})") as (session, f):
        found = variable_store.find(session, key, f)
    return None if found is None else found.value


def store_variable(key: str, value: Any, description: str | None) -> None:
    from orchestrator.execution.current import current_context
    from orchestrator.store import audit
    from orchestrator.store import variables as variable_store

    ctx = current_context()
    actor = f"task:{ctx.dag_id}/{ctx.run_id}/{ctx.task_id}" if ctx else "code"
    now = datetime.now(UTC)
    with store_session(f"Variable.set({key!r})") as (session, f):
        variable_store.put(session, key, value, f, now, description)
        audit.record(session, actor=actor, action="variable.set", target=key, at=now, details={"sensitive": is_sensitive(key)})


def delete_variable(key: str) -> None:
    from orchestrator.execution.current import current_context
    from orchestrator.store import audit
    from orchestrator.store import variables as variable_store

    ctx = current_context()
    now = datetime.now(UTC)
    with store_session(f"Variable.delete({key!r})") as (session, _f):
        variable_store.delete(session, key)
        audit.record(session, actor=f"task:{ctx.dag_id}/{ctx.run_id}/{ctx.task_id}" if ctx else "code",
                     action="variable.delete", target=key, at=now)


def push_xcom(dag_id: str, run_id: str, task_id: str, map_index: int, key: str, value: Any) -> None:
    from orchestrator.store.models import XCom

    with store_session(f"xcom_push(key={key!r})") as (session, _f):
        session.merge(XCom(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=map_index, key=key, value=value, at=datetime.now(UTC)))


def pulled_xcom(dag_id: str, run_id: str, task_id: str, key: str) -> tuple[bool, Any]:
    """(found, value): a pushed value under `key`, or with key "return_value" the task's result.
    A mapped task's values come as the list of its instances'."""
    from orchestrator.store.models import TaskInstance, XCom

    with store_session(f"xcom_pull(task_ids={task_id!r}, key={key!r})") as (session, _f):
        if key == "return_value":
            rows = session.execute(
                select(TaskInstance.map_index, TaskInstance.result).where(
                    TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id, TaskInstance.task_id == task_id,
                    TaskInstance.map_index == -1,
                )
            ).all()
        else:
            rows = session.execute(
                select(XCom.map_index, XCom.value).where(
                    XCom.dag_id == dag_id, XCom.run_id == run_id, XCom.task_id == task_id, XCom.key == key,
                ).order_by(XCom.map_index)
            ).all()
    if not rows:
        return False, None
    if len(rows) == 1 and rows[0][0] == -1:
        return True, rows[0][1]
    return True, [value for _, value in rows]


def external_states(dag_id: str, logical_date: datetime, task_ids: list[str] | None) -> tuple[str | None, dict[str, str]]:
    """(the state of `dag_id`'s run at `logical_date`, the states of its tasks `task_ids` by task_id),
    for ExternalTaskSensor; (None, {}) when there is no such run. Of several runs at that date
    (a manual one beside a scheduled one), the latest queued counts."""
    from orchestrator.store.models import DagRun, TaskInstance

    with store_session(f"the state of {dag_id}'s run at {logical_date.isoformat()}") as (session, _f):
        run = session.execute(
            select(DagRun.run_id, DagRun.state).where(DagRun.dag_id == dag_id, DagRun.logical_date == logical_date)
            .order_by(DagRun.queued_at.desc()).limit(1)
        ).first()
        if run is None:
            return None, {}
        if not task_ids:
            return run.state, {}
        rows = session.execute(
            select(TaskInstance.task_id, TaskInstance.state).where(
                TaskInstance.dag_id == dag_id, TaskInstance.run_id == run.run_id, TaskInstance.task_id.in_(task_ids),
                TaskInstance.map_index == -1,
            )
        ).all()
    return run.state, {r.task_id: r.state for r in rows}


class Variable:
    """Airflow's `Variable`: `Variable.get("key")`, `Variable.get("cfg", deserialize_json=True)`, `Variable.set`."""

    @staticmethod
    def get(key: str, default_var: Any = MISSING, deserialize_json: bool = False, *, default: Any = MISSING) -> Any:
        """The value as text (or its JSON value with deserialize_json); `default_var` when unknown,
        else VariableNotFoundError."""
        check_key(key)
        fallback = default if default is not MISSING else default_var
        text = from_env(key)
        if text is not None:
            value: Any = decode(text, key) if deserialize_json else text
        else:
            found = stored_variable(key)
            if found is None:
                if fallback is not MISSING:
                    return fallback
                raise VariableNotFoundError(
                    f"variable {key!r} is not set: set it with `orchestrator variables set {key} VALUE` or {env_name(key)}"
                )
            stored = found
            value = (decode(stored, key) if isinstance(stored, str) else stored) if deserialize_json else as_text(stored)
        if is_sensitive(key):
            note_secret(as_text(value))
        return value

    @staticmethod
    def set(key: str, value: Any, description: str | None = None, serialize_json: bool = False) -> None:
        """Store the value (a string as it is; with serialize_json any JSON value)."""
        check_key(key)
        if not serialize_json and not isinstance(value, str):
            value = str(value)
        store_variable(key, value, description)

    @staticmethod
    def delete(key: str) -> None:
        delete_variable(check_key(key))
