"""Writes to the variable table. Values are JSON, kept as Fernet tokens (the connections' key)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.fernet import InvalidToken, MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.core.variables import VariableNotFoundError, check_key
from orchestrator.store.connections import DecryptionError
from orchestrator.store.models import VariableRow


@dataclass(frozen=True)
class StoredVariable:
    key: str
    value: Any
    description: str | None
    updated_at: datetime


def _value(row: VariableRow, f: MultiFernet) -> Any:
    try:
        return json.loads(f.decrypt(row.value_enc.encode()))
    except InvalidToken:
        raise DecryptionError(
            f"variable {row.key!r} cannot be decrypted with the configured fernet_key (ORCH_FERNET_KEY); "
            "was the key changed without keeping the old one for rotation?"
        ) from None


def _stored(row: VariableRow, f: MultiFernet) -> StoredVariable:
    return StoredVariable(row.key, _value(row, f), row.description, row.updated_at)


def find(session: Session, key: str, f: MultiFernet) -> StoredVariable | None:
    row = session.get(VariableRow, key)
    return None if row is None else _stored(row, f)


def get(session: Session, key: str, f: MultiFernet) -> StoredVariable:
    found = find(session, key, f)
    if found is None:
        raise VariableNotFoundError(f"variable {key!r} does not exist")
    return found


def put(session: Session, key: str, value: Any, f: MultiFernet, now: datetime, description: str | None = None) -> bool:
    """Create or replace the variable; a None description keeps the current one. Returns whether it was new."""
    check_key(key)
    token = f.encrypt(json.dumps(value).encode()).decode()
    row = session.get(VariableRow, key)
    if row is None:
        session.add(VariableRow(key=key, value_enc=token, description=description, created_at=now, updated_at=now))
        return True
    row.value_enc = token
    row.updated_at = now
    if description is not None:
        row.description = description
    return False


def delete(session: Session, key: str) -> None:
    row = session.get(VariableRow, key)
    if row is None:
        raise VariableNotFoundError(f"variable {key!r} does not exist")
    session.delete(row)


def list_all(session: Session, f: MultiFernet) -> list[StoredVariable]:
    return [_stored(row, f) for row in session.scalars(select(VariableRow).order_by(VariableRow.key))]
