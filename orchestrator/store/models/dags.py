"""DAGs and what defines them: parsed files and import errors, spec versions, named schedules,
and the workflow definitions managed through the API with their versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.store.models.base import Base


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
    document: Mapped[dict[str, Any]] = mapped_column(JSON, comment="the workflow document (orchestrator.declarative's shape)")
    author: Mapped[str] = mapped_column(String(150))
    message: Mapped[str | None] = mapped_column(Text, comment="what the author said of the change")
    restored_from: Mapped[int | None] = mapped_column(Integer, comment="the version this one copies, when made by a restore")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    published_at: Mapped[datetime | None]
    published_by: Mapped[str | None] = mapped_column(String(150))
