"""What tasks wait for: approval requests and their decisions, and waits for external events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.store.models.base import Base


class ApprovalRequest(Base):
    """The decision one try of an ApprovalTask waits for: who may decide, and how it ended.

    `state`: open (waiting for decisions), decided (the outcome is known; the scheduler settles
    the task) or closed (settled, or its task stopped waiting).
    """

    __tablename__ = "approval_request"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(250))
    run_id: Mapped[str] = mapped_column(String(250))
    task_id: Mapped[str] = mapped_column(String(250))
    map_index: Mapped[int] = mapped_column(Integer, default=-1)
    try_number: Mapped[int] = mapped_column(Integer)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON, comment="the task's ApprovalSpec: rules, timeout, escalation")
    approvers: Mapped[list[Any]] = mapped_column(JSON, comment="who decides now: usernames and role:<role> (escalation may reassign)")
    requested_by: Mapped[str | None] = mapped_column(String(250), comment="the user who started the run, who may not approve it")
    requested_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str | None] = mapped_column(String(20))
    outcome_reason: Mapped[str | None] = mapped_column(Text)
    decided_at: Mapped[datetime | None]
    escalations_applied: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("dag_id", "run_id", "task_id", "map_index", "try_number"),
        Index("ix_approval_request_state", "state"),
    )


class ApprovalDecision(Base):
    """One user's decision on an approval request (each user decides once)."""

    __tablename__ = "approval_decision"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    request_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    at: Mapped[datetime]
    username: Mapped[str] = mapped_column(String(150))
    decision: Mapped[str] = mapped_column(String(20))
    comment: Mapped[str | None] = mapped_column(Text)
    delegate_to: Mapped[str | None] = mapped_column(String(150))
    votes: Mapped[float | None] = mapped_column(Float, comment="the votes the decision carries: own plus delegated (null: 1)")

    __table_args__ = (UniqueConstraint("request_id", "username"),)


class EventWait(Base):
    """One try of a WaitForEvent: the outside event it waits for, and the one that matched.

    `state`: waiting, matched (the scheduler settles the task), timed_out or closed.
    """

    __tablename__ = "event_wait"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(String(250))
    run_id: Mapped[str] = mapped_column(String(250))
    task_id: Mapped[str] = mapped_column(String(250))
    map_index: Mapped[int] = mapped_column(Integer, default=-1)
    try_number: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(250), comment="the event type, or a glob over it")
    is_glob: Mapped[bool] = mapped_column(Boolean)
    match: Mapped[str | None] = mapped_column(Text, comment="JMESPath over {type, payload, id, params}")
    params: Mapped[dict[str, Any]] = mapped_column(JSON, comment="the run's params, which `match` may compare the event with")
    corr_key: Mapped[str | None] = mapped_column(String(40), comment="orchestrator.event_waits.wait_key: finds the wait by the event's fields")
    after_event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), comment="only later events match")
    started_at: Mapped[datetime]
    timeout_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(20))
    event_pk: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), comment="the external_event that matched")
    matched_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("dag_id", "run_id", "task_id", "map_index", "try_number"),
        Index("ix_event_wait_lookup", "state", "is_glob", "type", "corr_key"),
    )
