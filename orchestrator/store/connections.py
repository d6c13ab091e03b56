"""Writes to the connection table, and the Fernet key that encrypts its secrets at rest.

The password and the extras (as JSON) are stored as Fernet tokens; the other fields are plain,
so lists and lookups need no key. The key is `ORCH_FERNET_KEY` (several, comma-separated, to
rotate: the first encrypts, all decrypt), else one generated once into $ORCH_HOME/fernet_key.
"""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.core.connections import Connection, ConnectionNotFoundError
from orchestrator.core.errors import ConfigError, ConflictError, OrchestratorError
from orchestrator.store.models import ConnectionRow

KEY_FILE = "fernet_key"


class DecryptionError(OrchestratorError):
    """A stored secret cannot be decrypted with the configured key(s)."""


def fernet_key(config: Config) -> str:
    """The configured key(s), or the key kept in $ORCH_HOME/fernet_key (created, mode 600, when absent)."""
    if config.fernet_key:
        return config.fernet_key
    path = Path(config.home) / KEY_FILE
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key().decode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first: use theirs
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def crypter(config: Config) -> MultiFernet:
    """Encrypts with the first key, decrypts with any (key rotation)."""
    keys = [k.strip() for k in fernet_key(config).split(",") if k.strip()]
    try:
        return MultiFernet([Fernet(k) for k in keys])
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"fernet_key (ORCH_FERNET_KEY) is not a valid Fernet key: {exc}; make one with Fernet.generate_key()") from None


def _encrypt(f: MultiFernet, text: str | None) -> str | None:
    return None if text is None else f.encrypt(text.encode()).decode()


def _decrypt(f: MultiFernet, token: str | None, conn_id: str) -> str | None:
    if token is None:
        return None
    try:
        return f.decrypt(token.encode()).decode()
    except InvalidToken:
        raise DecryptionError(
            f"cannot decrypt the secrets of connection {conn_id!r}: the Fernet key (ORCH_FERNET_KEY or "
            "$ORCH_HOME/fernet_key) is not the one they were encrypted with"
        ) from None


def _to_connection(row: ConnectionRow, f: MultiFernet) -> Connection:
    extra = _decrypt(f, row.extra_enc, row.conn_id)
    return Connection(
        conn_id=row.conn_id, conn_type=row.conn_type, host=row.host, port=row.port, login=row.login,
        password=_decrypt(f, row.password_enc, row.conn_id), schema=row.schema_name,
        extra=json.loads(extra) if extra else {},
    )


def _fill(row: ConnectionRow, conn: Connection, f: MultiFernet, now: datetime) -> None:
    row.conn_type = conn.conn_type
    row.host = conn.host
    row.port = conn.port
    row.login = conn.login
    row.password_enc = _encrypt(f, conn.password)
    row.schema_name = conn.schema
    row.extra_enc = _encrypt(f, json.dumps(conn.extra)) if conn.extra else None
    row.updated_at = now


def create(session: Session, conn: Connection, f: MultiFernet, now: datetime) -> None:
    """Add a connection; ConflictError if the id is taken."""
    if session.get(ConnectionRow, conn.conn_id) is not None:
        raise ConflictError(f"connection {conn.conn_id!r} already exists (update it, or delete it first)")
    row = ConnectionRow(conn_id=conn.conn_id, created_at=now)
    _fill(row, conn, f, now)
    session.add(row)
    session.flush()


def replace(session: Session, conn: Connection, f: MultiFernet, now: datetime) -> None:
    """Overwrite an existing connection with `conn`; ConnectionNotFoundError if there is none."""
    row = session.get(ConnectionRow, conn.conn_id)
    if row is None:
        raise ConnectionNotFoundError(f"connection {conn.conn_id!r} does not exist in the database")
    _fill(row, conn, f, now)


def delete(session: Session, conn_id: str) -> None:
    row = session.get(ConnectionRow, conn_id)
    if row is None:
        raise ConnectionNotFoundError(f"connection {conn_id!r} does not exist in the database")
    session.delete(row)


def find(session: Session, conn_id: str, f: MultiFernet) -> Connection | None:
    row = session.get(ConnectionRow, conn_id)
    return None if row is None else _to_connection(row, f)


def get(session: Session, conn_id: str, f: MultiFernet) -> Connection:
    conn = find(session, conn_id, f)
    if conn is None:
        raise ConnectionNotFoundError(f"connection {conn_id!r} does not exist in the database")
    return conn


def list_all(session: Session, f: MultiFernet) -> list[Connection]:
    """Every stored connection, by id (decrypted: callers show `masked()`)."""
    return [_to_connection(r, f) for r in session.scalars(select(ConnectionRow).order_by(ConnectionRow.conn_id))]


def database_lookup(sessions: sessionmaker[Session], config: Config) -> Any:
    """A `conn_id -> Connection | None` function on its own short read-only sessions, for the resolver.

    Read-only: the scheduler looks connections up while its own transaction may hold SQLite's
    write lock, and a read-only session never waits for it.
    """
    from orchestrator.store.db import make_sessionmaker

    f = crypter(config)
    readers = make_sessionmaker(sessions.kw["bind"], readonly=True)

    def lookup(conn_id: str) -> Connection | None:
        with readers() as session:
            return find(session, conn_id, f)

    return lookup


def resolver(config: Config, sessions: sessionmaker[Session], backends: Any = (), ttl_s: float = 10.0) -> Any:
    """The ConnectionResolver the scheduler and the CLI use: env, then `backends`, then this database."""
    from orchestrator.core.connections import ConnectionResolver

    return ConnectionResolver(backends=backends, database=database_lookup(sessions, config), ttl_s=ttl_s)
