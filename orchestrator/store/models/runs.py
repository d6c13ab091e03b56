"""Runs and their work: DAG runs, task instances and their tries, XComs, the event log, and the
scheduler bookkeeping that drives runs (the change counter, scheduler jobs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.store.models.base import Base


class DagRun(Base):
    """One run of a DAG."""

    __tablename__ = "dag_run"
    dag_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    run_type: Mapped[str] = mapped_column(String(20))
    version_hash: Mapped[str] = mapped_column(String(32))
    logical_date: Mapped[datetime]
    data_interval_start: Mapped[datetime | None]
    data_interval_end: Mapped[datetime | None]
    conf: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    queued_at: Mapped[datetime]
    start_date: Mapped[datetime | None]
    end_date: Mapped[datetime | None]
    ext_change: Mapped[int] = mapped_column(
        Integer, default=0, comment="bumped by user actions (clear, cancel) so the scheduler reloads the run"
    )
    state_reason: Mapped[str | None] = mapped_column(Text, comment="why the run waits, or why it failed without a task failing")
    waiting_since: Mapped[datetime | None] = mapped_column(comment="when the run began waiting on its dependencies")
    parent_dag_id: Mapped[str | None] = mapped_column(String(250), comment="the run whose task started this one")
    parent_run_id: Mapped[str | None] = mapped_column(String(250))
    parent_task_id: Mapped[str | None] = mapped_column(String(250))
    owner_job_id: Mapped[int | None] = mapped_column(Integer, comment="the scheduler (scheduler_job.id) that drives the running run")
    change_seq: Mapped[int] = mapped_column(
        BigInteger, default=0, comment="change_counter.seq of the last commit that queued the run or changed it for the schedulers"
    )
    paused: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false(), comment="a user paused this run: no new work is dispatched until resumed"
    )
    correlation_id: Mapped[str | None] = mapped_column(
        String(250), comment="a business identifier given at trigger time or taken from an event"
    )
    machine: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="a state machine run's current state and awaited actions (orchestrator.machine.MachineRun)"
    )
    run_data: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="the named run variables tasks and actions set (each change is an event)"
    )
    priority: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", comment="set at trigger time: ready tasks of higher-priority runs are submitted first"
    )

    __table_args__ = (
        Index("ix_dag_run_state", "state"),
        Index("ix_dag_run_change_seq", "change_seq"),
        Index("ix_dag_run_owner_job_id", "owner_job_id"),
        Index("ix_dag_run_dag_id_logical_date", "dag_id", "logical_date"),
        Index("ix_dag_run_parent", "parent_dag_id", "parent_run_id"),
        Index("ix_dag_run_correlation_id", "correlation_id"),
    )


class TaskInstance(Base):
    """One task of one run; `try_number` counts the tries that started."""

    __tablename__ = "task_instance"
    dag_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    map_index: Mapped[int] = mapped_column(Integer, primary_key=True, default=-1)
    state: Mapped[str] = mapped_column(String(20))
    try_number: Mapped[int] = mapped_column(Integer, default=0)
    max_tries: Mapped[int] = mapped_column(Integer, default=1)
    start_date: Mapped[datetime | None]
    end_date: Mapped[datetime | None]
    next_retry_at: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(String(250))
    result: Mapped[Any | None] = mapped_column(JSON)
    follow: Mapped[list[str] | None] = mapped_column(
        JSON, comment="after a success: the direct downstream task ids to follow (a branch's decision); null: all"
    )

    __table_args__ = (Index("ix_task_instance_state", "state"),)


class TaskTry(Base):
    """One try of a task instance: when, where, how it ended, and its log."""

    __tablename__ = "task_try"
    dag_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    map_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    try_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(20))
    start_date: Mapped[datetime | None]
    end_date: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(String(250))
    error: Mapped[str | None] = mapped_column(Text)
    log: Mapped[str] = mapped_column(Text, default="")
    rendered: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="the try's templated fields as rendered (secrets masked), by field name"
    )
    log_ref: Mapped[str | None] = mapped_column(
        String(1024), comment="where the whole log is kept once it outgrew the row (orchestrator.log_store); `log` keeps its head"
    )
    log_size: Mapped[int | None] = mapped_column(BigInteger, comment="the whole log's length in characters when it is in the log store")


class XCom(Base):
    """A value a task pushed under a key of its own (`ti.xcom_push`); its return value stays in
    task_instance.result."""

    __tablename__ = "xcom"
    dag_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    map_index: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value: Mapped[Any | None] = mapped_column(JSON)
    at: Mapped[datetime]


class Event(Base):
    """Append-only record of every state change and user action."""

    __tablename__ = "event"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(50))
    dag_id: Mapped[str | None] = mapped_column(String(250))
    run_id: Mapped[str | None] = mapped_column(String(250))
    task_id: Mapped[str | None] = mapped_column(String(250))
    map_index: Mapped[int | None] = mapped_column(Integer)
    try_number: Mapped[int | None] = mapped_column(Integer)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str | None] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(250), default="scheduler")
    reason: Mapped[str | None] = mapped_column(Text)
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    # by kind and time: the Late list reads the deadline misses without scanning the log
    __table_args__ = (Index("ix_event_dag_id_run_id", "dag_id", "run_id"), Index("ix_event_kind_at", "kind", "at"))


class ChangeCounter(Base):
    """One row: bumped by every commit that changes what the schedulers must notice (orchestrator.store.changes)."""

    __tablename__ = "change_counter"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)


class SchedulerJob(Base):
    """A scheduler process and its heartbeat."""

    __tablename__ = "scheduler_job"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hostname: Mapped[str] = mapped_column(String(250))
    pid: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime]
    last_heartbeat: Mapped[datetime]
    stats: Mapped[dict[str, Any] | None] = mapped_column(
        JSON, comment="what the scheduler reports with each heartbeat: Dask workers, loop time, queue depth"
    )
