"""The circuit_breaker table: breaker states shared by every scheduler and the UI, each change an event."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.core.circuit import Breaker, BreakerState, Change, reset
from orchestrator.core.errors import NotFoundError
from orchestrator.store import events
from orchestrator.store.models import CircuitBreaker


def _to_breaker(row: CircuitBreaker) -> Breaker:
    return Breaker(
        key=row.key,
        state=BreakerState(row.state),
        consecutive_failures=row.consecutive_failures,
        window=tuple((float(ts), bool(ok)) for ts, ok in row.window or ()),
        opened_at=row.opened_at,
        probe=row.probe,
    )


def load(session: Session) -> dict[str, Breaker]:
    """Every stored breaker by key (a key never stored is closed)."""
    return {row.key: _to_breaker(row) for row in session.scalars(select(CircuitBreaker))}


def list_rows(session: Session) -> list[CircuitBreaker]:
    return list(session.scalars(select(CircuitBreaker).order_by(CircuitBreaker.key)))


def save(session: Session, breakers: Iterable[Breaker], at: datetime) -> None:
    """Insert or update breaker rows in the caller's transaction."""
    for b in breakers:
        row = session.get(CircuitBreaker, b.key)
        if row is None:
            row = CircuitBreaker(key=b.key)
            session.add(row)
        row.state = b.state.value
        row.consecutive_failures = b.consecutive_failures
        row.window = [[ts, ok] for ts, ok in b.window]
        row.opened_at = b.opened_at
        row.probe = b.probe
        row.updated_at = at
    session.flush()


def change_event(change: Change, at: datetime, actor: str = "scheduler") -> dict:
    """The event row of a breaker's state change (kind `circuit.<state>`, the key in the payload)."""
    return events.event(
        f"circuit.{change.to_state.value}", at, from_state=change.from_state.value, to_state=change.to_state.value,
        actor=actor, reason=change.reason, payload={"key": change.key},
    )


def reset_breaker(session: Session, key: str, at: datetime, actor: str) -> Breaker:
    """Close a breaker by hand; NotFoundError for a key that was never recorded."""
    row = session.get(CircuitBreaker, key)
    if row is None:
        raise NotFoundError(f"no circuit breaker {key!r}: `orchestrator circuits list` shows the known ones")
    closed, change = reset(_to_breaker(row), f"reset by {actor}")
    save(session, [closed], at)
    if change is not None:
        events.append(session, [change_event(change, at, actor)])
    return closed
