"""Many rows in one executemany, straight to the database driver: the scheduler's hot writes.

SQLAlchemy's per-row parameter processing costs more than the database's own work when a pass
writes thousands of task transitions, so these helpers convert values once, as the models'
column types would (UTC datetimes stored naive, JSON as text), and hand tuples to the driver's
`executemany`. Table and column names come from the models, quoted by the dialect.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Table
from sqlalchemy.orm import Session

from orchestrator.models import UTCDateTime

Convert = Callable[[Any], Any]


def _sqlite_time(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME storage format, which its reads parse
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _naive_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def _json(value: Any) -> str:
    return json.dumps(value)


def _same(value: Any) -> Any:
    return value


class _Shape:
    """How to write one table's columns on one dialect."""

    def __init__(self, session: Session, table: Table) -> None:
        dialect = session.get_bind().dialect
        self.sqlite = dialect.name == "sqlite"
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.quote = dialect.identifier_preparer.quote
        self.table = self.quote(table.name)
        self.converters: dict[str, Convert] = {}
        for column in table.columns:
            if isinstance(column.type, JSON):
                self.converters[column.name] = _json
            elif isinstance(column.type, UTCDateTime):
                self.converters[column.name] = _sqlite_time if self.sqlite else _naive_utc
            else:
                self.converters[column.name] = _same


def _shape(session: Session, table: Table) -> _Shape:
    cache: dict[tuple[str, str], _Shape] = session.info.setdefault("orchestrator.bulk_shapes", {})
    key = (session.get_bind().dialect.name, table.name)
    if key not in cache:
        cache[key] = _Shape(session, table)
    return cache[key]


def insert_many(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT the rows (their keys name the table's columns), one executemany per set of keys."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    for group in groups.values():
        _insert_group(session, table, group)


def _insert_group(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    shape = _shape(session, table)
    names = list(rows[0])
    convert = [shape.converters[n] for n in names]
    sql = (
        f"INSERT INTO {shape.table} ({', '.join(shape.quote(n) for n in names)}) "
        f"VALUES ({', '.join(shape.mark for _ in names)})"
    )
    params = [tuple(c(row[n]) for c, n in zip(convert, names)) for row in rows]
    session.connection().exec_driver_sql(sql, params)


def update_many(session: Session, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str], guard: str | None = None) -> None:
    """UPDATE one row per dict: `k_<key>` values find it, the other keys (the same in every dict)
    are its new values; with `guard`, only where that column still holds the dict's `k_from`."""
    if not rows:
        return
    shape = _shape(session, table)
    names = [n for n in rows[0] if not n.startswith("k_")]
    where = [*keys, *([guard] if guard else [])]
    lookup = [f"k_{k}" for k in keys] + (["k_from"] if guard else [])
    convert = [shape.converters[n] for n in names] + [shape.converters[k] for k in where]
    sql = (
        f"UPDATE {shape.table} SET {', '.join(f'{shape.quote(n)} = {shape.mark}' for n in names)} "
        f"WHERE {' AND '.join(f'{shape.quote(k)} = {shape.mark}' for k in where)}"
    )
    fields = names + lookup
    params = [tuple(c(row[f]) for c, f in zip(convert, fields)) for row in rows]
    session.connection().exec_driver_sql(sql, params)
