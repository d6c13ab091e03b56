"""SqlTask: one statement on a SQL connection; the rows (at most `max_rows`) are the result."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from orchestrator.authoring.tasks import BaseTask, resolve_xcoms, xcom_refs_in
from orchestrator.core.errors import DagDefinitionError
from orchestrator.plugins.hookspecs import hookimpl

if TYPE_CHECKING:
    from sqlalchemy import URL

    from orchestrator.core.connections import Connection
    from orchestrator.execution.context import TaskContext

log = logging.getLogger("orchestrator.task")

# connection types -> SQLAlchemy drivers this project installs (others: give the driver as the type,
# e.g. "mysql+pymysql", or the whole URL in the `sqlalchemy_url` extra)
DRIVERS = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg", "sqlite": "sqlite"}


def sqlalchemy_url(conn: Connection) -> URL | str:
    """The SQLAlchemy URL of a connection; `schema` is the database (the file, for SQLite)."""
    from sqlalchemy import URL

    explicit = conn.extra.get("sqlalchemy_url")
    if explicit:
        return str(explicit)
    return URL.create(
        DRIVERS.get(conn.conn_type, conn.conn_type), username=conn.login, password=conn.password, host=conn.host,
        port=conn.port, database=conn.schema,
    )


def json_safe(value: Any) -> Any:
    """Column values as JSON can carry them: times as ISO text, decimals as numbers, bytes as base64."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [json_safe(v) for v in value]
    return str(value)


class SqlTask(BaseTask):
    """Runs `sql` (one statement, `:name` placeholders filled from `parameters`) on `conn_id`.

    The statement commits. A query's result is its rows as a list of {column: value} (the
    first `max_rows`; more are dropped with a warning in the log); any other statement's
    result is {"rowcount": n}. `parameters` may hold results of other tasks.
    """

    step_type = "sql"
    template_fields = ("sql", "parameters")

    def __init__(
        self,
        *,
        task_id: str,
        conn_id: str,
        sql: str,
        parameters: Mapping[str, Any] | None = None,
        max_rows: int = 1000,
        **kwargs: Any,
    ) -> None:
        if not isinstance(sql, str) or not sql.strip():
            raise DagDefinitionError(f"task {task_id!r}: sql must be a non-empty statement")
        if not conn_id:
            raise DagDefinitionError(f"task {task_id!r}: SqlTask needs a conn_id")
        if not isinstance(max_rows, int) or isinstance(max_rows, bool) or max_rows < 0:
            raise DagDefinitionError(f"task {task_id!r}: max_rows must be a whole number >= 0, not {max_rows!r}")
        super().__init__(task_id=task_id, conn_id=conn_id, **kwargs)
        self.sql = sql
        self.parameters = dict(parameters or {})
        self.max_rows = max_rows
        for ref in xcom_refs_in(self.parameters):
            self.set_upstream(ref.task)

    def args_repr(self) -> str:
        return self.sql[:2000]

    def execute(self, context: TaskContext, upstream_results: dict[str, Any]) -> Any:
        assert self.conn_id is not None
        return run_statement(self.conn_id, self.sql, resolve_xcoms(self.parameters, upstream_results), self.max_rows)


def run_statement(conn_id: str, sql: str, parameters: Mapping[str, Any], max_rows: int) -> Any:
    """Run one statement (it commits) on the running task's connection `conn_id`: a query's first
    `max_rows` rows as a list of {column: value}, any other statement's {"rowcount": n}."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    from orchestrator.core.connections import get_connection

    engine = create_engine(sqlalchemy_url(get_connection(conn_id)), poolclass=NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql), dict(parameters))
            if not result.returns_rows:
                log.info("%d row(s) affected", result.rowcount)
                return {"rowcount": result.rowcount}
            rows = result.mappings().fetchmany(max_rows + 1)
    finally:
        engine.dispose()
    if len(rows) > max_rows:
        log.warning("the query returned more than max_rows=%d rows: the result holds the first %d", max_rows, max_rows)
        rows = rows[:max_rows]
    log.info("%d row(s) returned", len(rows))
    return [{str(k): json_safe(v) for k, v in row.items()} for row in rows]


@hookimpl
def orchestrator_step_types() -> list[type[BaseTask]]:
    return [SqlTask]
