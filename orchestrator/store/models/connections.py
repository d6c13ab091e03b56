"""Connections and variables, encrypted at rest."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.store.models.base import Base


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


class VariableRow(Base):
    """A Variable: a key with a JSON value, encrypted at rest (a Fernet token of the JSON text)."""

    __tablename__ = "variable"
    key: Mapped[str] = mapped_column(String(250), primary_key=True)
    value_enc: Mapped[str] = mapped_column(Text, comment="Fernet token of the value as JSON")
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
