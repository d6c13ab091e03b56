"""SQLAlchemy models: data only, no behaviour. The schema changes only through Alembic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, Index, Integer, MetaData, String, Text, TypeDecorator, UniqueConstraint, false
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, stored as naive UTC so SQLite and PostgreSQL agree."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[Any]: JSON}


class Dag(Base):
    """One DAG known to the store; `spec` is its current DagSpec as JSON."""

    __tablename__ = "dag"
    dag_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    fileloc: Mapped[str] = mapped_column(Text)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    schedule: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    version_hash: Mapped[str] = mapped_column(String(32))
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    last_parsed_at: Mapped[datetime | None]
    next_run_at: Mapped[datetime | None] = mapped_column(comment="when the next scheduled run is due")

    __table_args__ = (Index("ix_dag_next_run_at", "next_run_at"),)


class DagVersion(Base):
    """Every DagSpec version ever seen; runs are pinned to the version they started with."""

    __tablename__ = "dag_version"
    dag_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    version_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime]
    version_number: Mapped[int] = mapped_column(Integer, comment="1, 2, 3... per DAG, in the order the versions were first parsed")

    __table_args__ = (UniqueConstraint("dag_id", "version_number", name="uq_dag_version_dag_id_version_number"),)


class DagFile(Base):
    """A parsed file in the DAG folder, to re-parse only what changed."""

    __tablename__ = "dag_file"
    path: Mapped[str] = mapped_column(String(1024), primary_key=True)
    mtime: Mapped[float] = mapped_column(Float)
    size: Mapped[int] = mapped_column(BigInteger)
    content_hash: Mapped[str] = mapped_column(String(64))
    dag_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    last_parsed_at: Mapped[datetime]


class ImportError_(Base):
    """A DAG file that could not be loaded, with why."""

    __tablename__ = "import_error"
    filename: Mapped[str] = mapped_column(String(1024), primary_key=True)
    message: Mapped[str] = mapped_column(Text)
    traceback: Mapped[str] = mapped_column(Text, default="")
    timestamp: Mapped[datetime]


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
        JSON, comment="a state machine run's current state and awaited actions (orchestrator.core.machine.MachineRun)"
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
        String(1024), comment="where the whole log is kept once it outgrew the row (orchestrator.plugins.log_store); `log` keeps its head"
    )
    log_size: Mapped[int | None] = mapped_column(BigInteger, comment="the whole log's length in characters when it is in the log store")


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


class User(Base):
    """A person or robot that uses the API or UI; `role` is viewer, operator or admin."""

    __tablename__ = "user_account"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12), comment="first characters, to tell tokens apart")
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class DagRole(Base):
    """A named set of per-DAG permissions (Airflow's DAG-level access); users in one are restricted to them."""

    __tablename__ = "dag_role"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    description: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]


class DagRoleGrant(Base):
    """One permission of a DAG role, on one DAG or on every DAG with a tag."""

    __tablename__ = "dag_role_grant"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    role: Mapped[str] = mapped_column(String(100), index=True)
    permission: Mapped[str] = mapped_column(String(20), comment="read, trigger or edit")
    dag_id: Mapped[str | None] = mapped_column(String(250), comment="the DAG granted, or null when a tag is")
    tag: Mapped[str | None] = mapped_column(String(100), comment="every DAG with this tag, or null when a DAG is")
    created_at: Mapped[datetime]


class UserDagRole(Base):
    """A user's membership of a DAG role."""

    __tablename__ = "user_dag_role"
    user_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    role: Mapped[str] = mapped_column(String(100), primary_key=True, index=True)


class AuditLog(Base):
    """Append-only record of every mutating action through the API, the UI or the CLI."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(150))
    action: Mapped[str] = mapped_column(String(80))
    target: Mapped[str | None] = mapped_column(String(600))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_audit_log_at", "at"),)


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


class ConnectionRow(Base):
    """A named connection; the password and the extras are Fernet tokens (encrypted at rest)."""

    __tablename__ = "connection"
    conn_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    conn_type: Mapped[str] = mapped_column(String(50))
    host: Mapped[str | None] = mapped_column(String(500))
    port: Mapped[int | None] = mapped_column(Integer)
    login: Mapped[str | None] = mapped_column(String(500))
    password_enc: Mapped[str | None] = mapped_column(Text, comment="Fernet token of the password")
    schema_name: Mapped[str | None] = mapped_column(String(500), comment="database name, path or URL path")
    extra_enc: Mapped[str | None] = mapped_column(Text, comment="Fernet token of the extras as JSON")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Schedule(Base):
    """A named schedule beyond a DAG's own: its cron (in its zone) queues runs with its conf."""

    __tablename__ = "schedule"
    name: Mapped[str] = mapped_column(String(250), primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(250), index=True)
    cron: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    conf: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    start_date: Mapped[datetime | None]
    end_date: Mapped[datetime | None]
    next_run_at: Mapped[datetime | None] = mapped_column(comment="when its next run is due; None once past end_date")
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0", comment="the priority of the runs it starts")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AssetEvent(Base):
    """One update of a data asset: by a task with it in its outlets, or posted through the API."""

    __tablename__ = "asset_event"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(500))
    at: Mapped[datetime]
    source_dag_id: Mapped[str | None] = mapped_column(String(250))
    source_run_id: Mapped[str | None] = mapped_column(String(250))
    source_task_id: Mapped[str | None] = mapped_column(String(250))
    actor: Mapped[str] = mapped_column(String(250), default="scheduler")
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_asset_event_uri_id", "uri", "id"),)


class AssetCursor(Base):
    """The newest update of an asset that an asset-scheduled DAG has already run for."""

    __tablename__ = "asset_cursor"
    dag_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    uri: Mapped[str] = mapped_column(String(500), primary_key=True)
    last_event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), default=0)


class ExternalEvent(Base):
    """An event posted by an outside system (`POST /api/v1/events`); the scheduler matches it to triggers."""

    __tablename__ = "external_event"
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    event_id: Mapped[str | None] = mapped_column(String(250), unique=True, comment="the sender's id: posting it again changes nothing")
    type: Mapped[str] = mapped_column(String(250))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    received_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(250))
    processed_at: Mapped[datetime | None] = mapped_column(comment="when the scheduler matched it against the DAGs' triggers")

    __table_args__ = (Index("ix_external_event_processed_at", "processed_at"),)


class ExternalEventRun(Base):
    """A run that an outside event started."""

    __tablename__ = "external_event_run"
    event_pk: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    run_id: Mapped[str] = mapped_column(String(250), primary_key=True)

    # a purge of old runs finds their links by run (orchestrator.store.retention)
    __table_args__ = (Index("ix_external_event_run_dag_id_run_id", "dag_id", "run_id"),)


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
    corr_key: Mapped[str | None] = mapped_column(String(40), comment="orchestrator.core.event_waits.wait_key: finds the wait by the event's fields")
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


class VariableRow(Base):
    """A Variable: a key with a JSON value, encrypted at rest (a Fernet token of the JSON text)."""

    __tablename__ = "variable"
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value_enc: Mapped[str] = mapped_column(Text, comment="Fernet token of the value as JSON")
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


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


class Definition(Base):
    """A workflow definition managed through the API (orchestrator.core.definitions): its id is the DAG
    id its published version runs as; `status` is draft, published or deprecated."""

    __tablename__ = "definition"
    id: Mapped[str] = mapped_column(String(250), primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    latest_version: Mapped[int] = mapped_column(Integer, comment="the highest version number")
    published_version: Mapped[int | None] = mapped_column(Integer, comment="the version new runs use; null unless published")
    created_by: Mapped[str] = mapped_column(String(150))
    created_at: Mapped[datetime]
    updated_by: Mapped[str] = mapped_column(String(150))
    updated_at: Mapped[datetime]
    deprecated_at: Mapped[datetime | None]


class DefinitionVersion(Base):
    """One version of a definition: every create, update and restore adds one; publishing freezes it."""

    __tablename__ = "definition_version"
    definition_id: Mapped[str] = mapped_column(String(250), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(20), comment="draft, published, superseded or deprecated")
    document: Mapped[dict[str, Any]] = mapped_column(JSON, comment="the workflow document (orchestrator.declarative.workflow's shape)")
    author: Mapped[str] = mapped_column(String(150))
    message: Mapped[str | None] = mapped_column(Text, comment="what the author said of the change")
    restored_from: Mapped[int | None] = mapped_column(Integer, comment="the version this one copies, when made by a restore")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    published_by: Mapped[str | None] = mapped_column(String(150))
