"""Many rows in one statement, straight to the database driver: the scheduler's hot writes.

SQLAlchemy's per-row parameter processing costs more than the database's own work when a pass
writes thousands of task transitions, so these helpers convert values once, as the models'
column types would (UTC datetimes stored naive, JSON as text), and hand tuples to the driver:
on SQLite one `executemany`; on PostgreSQL one `COPY` for inserts and one `UPDATE ... FROM
unnest(...)` for updates, so the server parses and plans once per batch, not once per row.
Table and column names come from the models, quoted by the dialect.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import orjson
from sqlalchemy import JSON, Table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from orchestrator.store.models import UTCDateTime

Convert = Callable[[Any], Any]


def _sqlite_time(value: datetime | None) -> str | None:
    # SQLAlchemy's SQLite DATETIME storage format, which its reads parse
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:26]  # without its "+00:00": no naive copy to make


def _naive_utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


def _json(value: Any) -> str:
    if value is None:
        return "null"
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # what orjson refuses (an int beyond 64 bits) the standard encoder may still take
        return json.dumps(value)


_TIMES = "orchestrator.bulk_times"


@contextmanager
def times_remembered(session: Session) -> Iterator[None]:
    """Within the block, each time is converted once for all the session's bulk writes: a
    transition's time goes to its event, its task and its try rows, and a batch's rows share
    their times. The memory lasts as long as the write that fills it, so it is as big as that."""
    session.info[_TIMES] = {}
    try:
        yield
    finally:
        session.info.pop(_TIMES, None)


class _Shape:
    """How to write one table's columns on one dialect."""

    def __init__(self, session: Session, table: Table) -> None:
        dialect = session.get_bind().dialect
        self.sqlite = dialect.name == "sqlite"
        self.postgres = dialect.name == "postgresql"
        # PostgreSQL takes a whole batch as one array per column: each array's type, by column
        self.arrays = {c.name: f"{c.type.compile(dialect=dialect)}[]" for c in table.columns} if self.postgres else {}
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.quote = dialect.identifier_preparer.quote
        self.table = self.quote(table.name)
        self.converters: dict[str, Convert | None] = {}  # None: the value goes as it is
        self.times: set[str] = set()  # the time columns, whose conversions a write remembers
        for column in table.columns:
            if isinstance(column.type, JSON):
                self.converters[column.name] = _json
            elif isinstance(column.type, UTCDateTime):
                self.converters[column.name] = _sqlite_time if self.sqlite else _naive_utc
                self.times.add(column.name)
            else:
                self.converters[column.name] = None

    def rows(
        self, rows: Sequence[dict[str, Any]], fields: list[str], columns: list[str], times: dict[Any, Any] | None = None,
    ) -> list[tuple[Any, ...]]:
        """The rows' `fields` as parameter tuples, each converted as its column (in `columns`) needs;
        times found in `times` (value -> converted) are not converted again, and new ones are added."""
        if not any(self.converters[n] for n in columns):  # nothing to convert: the picked tuples as they are
            return _picked(rows, fields)
        return list(zip(*self.columns(rows, fields, columns, times)))

    def columns(
        self, rows: Sequence[dict[str, Any]], fields: list[str], columns: list[str], times: dict[Any, Any] | None = None,
    ) -> list[list[Any]]:
        """Like `rows`, column by column: one list per field (what an UPDATE over arrays takes)."""
        picked = _picked(rows, fields)
        # one comprehension per converted column, the transposes in C
        values: list[list[Any]] = [list(c) for c in zip(*picked)] if picked else [[] for _ in fields]
        memory: dict[Any, Any] = {} if times is None else times
        for i, name in enumerate(columns):
            convert = self.converters[name]
            if convert is None:
                continue
            column = values[i]
            if name in self.times:  # each distinct time converted once, then every cell looked up in C
                for value in set(column):
                    if value not in memory:
                        memory[value] = convert(value)
                values[i] = list(map(memory.__getitem__, column))
            else:
                values[i] = list(map(convert, column))
        return values


def _picked(rows: Sequence[dict[str, Any]], fields: list[str]) -> list[tuple[Any, ...]]:
    pick = itemgetter(*fields)
    return list(map(pick, rows)) if len(fields) > 1 else [(pick(row),) for row in rows]


def _shape(session: Session, table: Table) -> _Shape:
    cache: dict[tuple[str, str], _Shape] = session.info.setdefault("orchestrator.bulk_shapes", {})
    key = (session.get_bind().dialect.name, table.name)
    if key not in cache:
        cache[key] = _Shape(session, table)
    return cache[key]


def insert_many(session: Session, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT the rows (their keys name the table's columns), one executemany per set of keys;
    columns a row leaves out get their model's Python-side default, as an ORM insert would."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    for names, group in groups.items():
        defaults = _defaults(table, names)
        _insert_group(session, table, [{**defaults, **row} for row in group] if defaults else group)


def _defaults(table: Table, names: tuple[str, ...]) -> dict[str, Any]:
    """The Python-side defaults (scalars, or callables taking no context) of the columns not in `names`."""
    out: dict[str, Any] = {}
    for column in table.columns:
        default = column.default
        if column.name in names or default is None or not (default.is_scalar or default.is_callable):
            continue
        out[column.name] = default.arg(None) if default.is_callable else default.arg  # type: ignore[attr-defined]
    return out


def _insert_group(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    shape = _shape(session, table)
    names = list(rows[0])
    values = shape.rows(rows, names, names, session.info.get(_TIMES))
    columns = ", ".join(shape.quote(n) for n in names)
    if shape.postgres:
        # one COPY instead of a statement per row: the server parses and plans once
        _copy(session, f"COPY {shape.table} ({columns}) FROM STDIN", values)
        return
    sql = f"INSERT INTO {shape.table} ({columns}) VALUES ({', '.join(shape.mark for _ in names)})"
    session.connection().exec_driver_sql(sql, values)


def _copy(session: Session, sql: str, rows: list[tuple[Any, ...]]) -> None:
    """COPY the rows with psycopg's cursor, in the session's transaction. The driver's errors are
    raised as SQLAlchemy's (IntegrityError, OperationalError, ...), as for any statement the
    session runs, so callers handle a taken key or a lost database the same way."""
    connection = session.connection()
    dialect = connection.dialect
    raw = connection.connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance(
            sql, None, exc, dialect.loaded_dbapi.Error, connection_invalidated=dialect.is_disconnect(exc, raw, cursor), dialect=dialect,
        ) from exc
    finally:
        cursor.close()


def update_many(session: Session, table: Table, rows: Sequence[dict[str, Any]], keys: Sequence[str], guard: str | None = None) -> None:
    """UPDATE one row per dict: `k_<key>` values find it, the other keys (the same in every dict)
    are its new values; with `guard`, only where that column still holds the dict's `k_from`."""
    if not rows:
        return
    shape = _shape(session, table)
    names = [n for n in rows[0] if not n.startswith("k_")]
    where = [*keys, *([guard] if guard else [])]
    lookup = [f"k_{k}" for k in keys] + (["k_from"] if guard else [])
    times = session.info.get(_TIMES)
    if shape.postgres and len(rows) > 1:
        columns = shape.columns(rows, names + lookup, names + where, times)
        # rows updating the same row twice keep the executemany below, which applies them in order
        if len(set(zip(*columns[len(names):len(names) + len(keys)]))) == len(rows):
            _update_over_arrays(session, shape, names, lookup, where, columns)
            return
        values = list(zip(*columns))
    else:
        values = shape.rows(rows, names + lookup, names + where, times)
    sql = (
        f"UPDATE {shape.table} SET {', '.join(f'{shape.quote(n)} = {shape.mark}' for n in names)} "
        f"WHERE {' AND '.join(f'{shape.quote(k)} = {shape.mark}' for k in where)}"
    )
    session.connection().exec_driver_sql(sql, values)


def _update_over_arrays(
    session: Session, shape: _Shape, names: list[str], lookup: list[str], where: list[str], columns: list[list[Any]],
) -> None:
    """One statement joining the table to the batch as arrays (unnest), instead of one per row."""
    q = shape.quote
    arrays = ", ".join(f"%s::{shape.arrays[c]}" for c in [*names, *where])
    sql = (
        f"UPDATE {shape.table} SET {', '.join(f'{q(n)} = v.{q(n)}' for n in names)} "
        f"FROM unnest({arrays}) AS v({', '.join(q(f) for f in [*names, *lookup])}) "
        f"WHERE {' AND '.join(f'{shape.table}.{q(k)} = v.{q(f)}' for k, f in zip(where, lookup))}"
    )
    session.connection().exec_driver_sql(sql, tuple(columns))
