"""What starts runs from outside: data asset updates and their cursors, external events and the runs they started."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.store.models.base import Base


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
