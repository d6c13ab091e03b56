"""What every CLI command shares: configuration, database access, output and error handling."""

from __future__ import annotations

import functools
import getpass
import json
import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config, ConfigReloader, load_config
from orchestrator.core.errors import ConfigError, DagDefinitionError, DatabaseError, NotFoundError, OrchestratorError
from orchestrator.store import access as access_store
from orchestrator.store import audit
from orchestrator.store.db import check_schema, make_engine, make_sessionmaker
from orchestrator.store.models import Dag, User
from orchestrator.store.permissions import FULL_ACCESS, DagAccess, DagPermission, denial
from orchestrator.store.users import Role

EXIT_FAILURE = 1
EXIT_USAGE = 2


def utcnow() -> datetime:
    """The time the CLI stamps its writes with."""
    return datetime.now(UTC)


@dataclass
class CliState:
    """Options of the root command, shared with every subcommand."""

    dags: Path | None = None
    _config: Config | None = None
    _engine: Engine | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = load_config(dags_folder=self.dags)
        return self._config

    def reload_on_sighup(self) -> ConfigReloader:
        """Read the configuration again on SIGHUP (a long-running command: scheduler, standalone)."""
        reloader = ConfigReloader(self.config, {"dags_folder": self.dags})
        signal.signal(signal.SIGHUP, lambda *_: reloader.request())
        return reloader

    def sessions(self, *, readonly: bool = False) -> sessionmaker[Session]:
        """Sessions on the configured database, whose schema must be current."""
        if self._engine is None:
            engine = make_engine(self.config.resolved_database_url)
            check_schema(engine)
            self._engine = engine
        return make_sessionmaker(self._engine, readonly=readonly)


pass_state = click.make_pass_decorator(CliState, ensure=True)


def os_user() -> str:
    """The login name of whoever runs the command (the uid when the system has no name for it)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


def cli_actor() -> str:
    """How the audit log and the event log name a change made with the CLI: `cli:<os user>`."""
    return f"cli:{os_user()}"


def record_audit(session: Session, action: str, target: str | None, details: dict[str, Any] | None = None) -> None:
    """Audit a CLI change in the caller's transaction, so it commits with the change itself."""
    audit.record(session, actor=cli_actor(), action=action, target=target, at=datetime.now(UTC), details=details)


@contextmanager
def audited(state: CliState, action: str, target: str | None, details: dict[str, Any] | None = None) -> Iterator[Session]:
    """A write transaction for one CLI change, audited when it commits."""
    with state.sessions().begin() as session:
        yield session
        record_audit(session, action, target, details)


class PermissionDeniedError(OrchestratorError):
    """The CLI user, a user of the store in DAG roles, may not do this to that DAG."""


def cli_access(session: Session) -> DagAccess:
    """What the CLI user may do to DAGs.

    The CLI reaches the database directly, so whoever runs it could do anything; when the OS user
    (or $ORCH_USER) is also a user of the store, their DAG roles apply as they do in the API.
    $ORCH_USER must name an existing user; an OS user with no namesake has full access.
    """
    user = cli_user(session)
    if user is None:
        return FULL_ACCESS
    return access_store.access_of(session, user.id, Role(user.role))


def cli_user(session: Session) -> User | None:
    """The store's user the CLI acts as ($ORCH_USER, else the OS user's namesake), if any."""
    named = os.environ.get("ORCH_USER")
    username = named or os_user()
    user = session.scalar(select(User).where(User.username == username, User.is_active.is_(True)))
    if user is None and named:
        raise NotFoundError(f"ORCH_USER names {named!r}, who is not an active user (see `orchestrator users create`)")
    return user


def cli_roles(session: Session) -> list[str]:
    """The roles a state machine's guards see for the CLI user: an OS user with no namesake has them all."""
    user = cli_user(session)
    return access_store.role_names(session, None if user is None else user.id, Role.ADMIN if user is None else Role(user.role))


def require_dag(session: Session, dag_id: str, needed: DagPermission) -> None:
    """Refuse (PermissionDeniedError) unless the CLI user may do `needed` to `dag_id`."""
    access = cli_access(session)
    row = session.get(Dag, dag_id)
    tags = (row.spec.get("tags") or ()) if row is not None else ()
    if row is not None and not access.allows(dag_id, tags, needed):
        raise PermissionDeniedError(denial(dag_id, needed, access))


def readable(session: Session, dags: Iterable[Dag]) -> list[Dag]:
    """The DAGs among `dags` the CLI user may read."""
    access = cli_access(session)
    return [d for d in dags if access.allows(d.dag_id, d.spec.get("tags") or (), DagPermission.READ)]


def readable_dag_ids(session: Session) -> set[str] | None:
    """The dag_ids the CLI user may read, or None when that is every DAG."""
    if not cli_access(session).restricted:
        return None
    return {d.dag_id for d in readable(session, session.scalars(select(Dag)))}


def dags_option(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`--dags PATH`: use this DAG folder instead of the configured one."""

    def remember(ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
        if value is not None:
            ctx.ensure_object(CliState).dags = value
            # the processes this command starts (DAG file parsers, local Dask workers) read their
            # configuration from the environment: they must see the same folder, and its plugins
            os.environ["ORCH_DAGS_FOLDER"] = str(value.resolve())
        return value

    return click.option(
        "--dags", type=click.Path(file_okay=False, path_type=Path), expose_value=False, callback=remember,
        is_eager=True, help="The DAG folder (default: $ORCH_DAGS_FOLDER or $ORCH_HOME/dags).",
    )(fn)


def handle_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our exceptions into a one-line message and an exit code (2: bad input, 1: failure)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (NotFoundError, ConfigError, DagDefinitionError) as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except DatabaseError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_FAILURE)
        except OrchestratorError as exc:
            click.echo(f"Error: {exc}", err=True)
            sys.exit(EXIT_FAILURE)

    return wrapper


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def emit_json(rows: Iterable[dict[str, Any]]) -> None:
    click.echo(json.dumps(list(rows), indent=2))


def emit_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain aligned table; `--json` is the format for scripts."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip())
    click.echo("  ".join("-" * w for w in widths))
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())


def emit_rows(rows: list[dict[str, Any]], columns: list[str], as_json: bool) -> None:
    """A listing: the JSON array for scripts (`--json`), else the table of `columns`."""
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, columns)


def parse_conf(raw: str | None, option: str = "--conf") -> dict[str, Any]:
    """`--conf` (or another `option` taking JSON) must be a JSON object."""
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON ({exc.msg} at position {exc.pos})", param_hint=option) from None
    if not isinstance(value, dict):
        raise click.BadParameter("must be a JSON object, e.g. '{\"limit\": 5}'", param_hint=option)
    return value
