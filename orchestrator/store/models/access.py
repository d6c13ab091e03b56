"""Users, API tokens, DAG-level roles and their grants, and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.store.models.base import Base


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
