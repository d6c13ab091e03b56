"""Resilience: circuit breakers, pools and idempotency keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.store.models.base import Base


class CircuitBreaker(Base):
    """One circuit breaker (a connection, or `step:<type>`): its state and recent outcomes."""

    __tablename__ = "circuit_breaker"
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    window: Mapped[list[Any]] = mapped_column(JSON, default=list, comment="[epoch seconds, succeeded] of recent outcomes")
    opened_at: Mapped[datetime | None]
    probe: Mapped[str | None] = mapped_column(String(600), comment="the task let through while half-open")
    updated_at: Mapped[datetime]


class Pool(Base):
    """A named number of slots that limits how many tasks using it run at once, across DAGs."""

    __tablename__ = "pool"
    name: Mapped[str] = mapped_column(String(250), primary_key=True)
    slots: Mapped[int] = mapped_column(Integer)
    description: Mapped[str | None] = mapped_column(Text)


class IdempotencyKey(Base):
    """A rendered idempotency key whose task succeeded: later tries with the key are not run (orchestrator.core.idempotency)."""

    __tablename__ = "idempotency_key"
    key: Mapped[str] = mapped_column(String(250), primary_key=True, comment="the rendered key (sha256:<hex> when longer than 250)")
    dag_id: Mapped[str] = mapped_column(String(250))
    run_id: Mapped[str] = mapped_column(String(250))
    task_id: Mapped[str] = mapped_column(String(250))
    try_number: Mapped[int] = mapped_column(Integer)
    result: Mapped[Any | None] = mapped_column(JSON, comment="what the try returned: later tries with the key succeed with it")
    succeeded_at: Mapped[datetime]
