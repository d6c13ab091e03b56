"""Log stores: where a finished try's log goes once it outgrew its row, and how it is read back.

Log stores are plugins (`orchestrator_log_stores`); this module is the built-in one, the file
store (`file:` references, files under `$ORCH_HOME/logs/<dag>/<run>/<task>/<try>.log`), and
`LogStores`, through which the rest of the code writes (to the configured scheme), reads and
deletes (by each reference's own scheme).

Moving happens after the fact (`offload`, called by the scheduler's retention thread): a try is
written in its row while it runs, as before, and a finished try longer than
`log_offload_chars` is copied to the store, then its row keeps the reference, the full length
and the head. The store is written first, so a crash in between leaves a file that the next
pass overwrites, never a row pointing nowhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote, unquote

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.core.errors import ConfigError, NotFoundError
from orchestrator.core.states import TASK_DUE_AGAIN, TASK_TERMINAL
from orchestrator.plugins.hookspecs import hookimpl
from orchestrator.store.models import TaskTry

FINISHED_TRY_STATES = sorted(s.value for s in TASK_TERMINAL | TASK_DUE_AGAIN)
"""Try states whose log never grows again."""


@dataclass(frozen=True)
class TryKey:
    """Which try a log belongs to."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int


class LogStore(Protocol):
    scheme: str

    def write(self, key: TryKey, text: str) -> str: ...
    def read(self, ref: str) -> str: ...
    def delete(self, refs: list[str]) -> None: ...


def _part(name: str) -> str:
    # one path component whatever the id holds ("/", "..")
    return quote(name, safe="@:+-_,=") if name not in (".", "..") else quote(name, safe="").replace(".", "%2E")


class FileLogStore:
    """Logs as files under `$ORCH_HOME/logs/<dag>/<run>/<task>/<try>.log` (`<task>@<map_index>` for a mapped instance)."""

    scheme = "file"

    def __init__(self, config: Config) -> None:
        self.root = config.home / "logs"

    def _path(self, ref: str) -> Path:
        relative = ref.removeprefix(f"{self.scheme}:")
        parts = relative.split("/")
        if len(parts) != 4 or any(unquote(p) in ("", ".", "..") for p in parts):
            raise NotFoundError(f"{ref!r} is not a reference of the file log store")
        return self.root.joinpath(*parts)

    def write(self, key: TryKey, text: str) -> str:
        task = key.task_id if key.map_index < 0 else f"{key.task_id}@{key.map_index}"
        ref = f"{self.scheme}:" + "/".join(_part(p) for p in (key.dag_id, key.run_id, task, f"{key.try_number}.log"))
        path = self._path(ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
        return ref

    def read(self, ref: str) -> str:
        try:
            return self._path(ref).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise NotFoundError(f"the log {ref!r} is gone from {self.root}") from None

    def delete(self, refs: list[str]) -> None:
        for ref in refs:
            path = self._path(ref)
            path.unlink(missing_ok=True)
            for folder in (path.parent, path.parent.parent, path.parent.parent.parent):
                try:
                    folder.rmdir()  # only when empty
                except OSError:
                    break


@hookimpl
def orchestrator_log_stores() -> list[Any]:
    return [FileLogStore]


class LogStores:
    """The registered log stores of a configuration: writes go to `config.log_store`, reads and deletes by reference."""

    def __init__(self, types: dict[str, Any], config: Config) -> None:
        if config.log_store not in types:
            raise ConfigError(f"log_store (ORCH_LOG_STORE): no log store {config.log_store!r}; known: {', '.join(sorted(types))}")
        self.types, self.config = types, config
        self._open: dict[str, LogStore] = {}

    @classmethod
    def configured(cls, config: Config) -> LogStores:
        """The stores the plugins of `config` provide."""
        from orchestrator.plugins.manager import load_plugins

        return cls(load_plugins(config).log_store_types, config)

    def _store(self, scheme: str) -> LogStore:
        if scheme not in self._open:
            if scheme not in self.types:
                raise NotFoundError(f"a log is kept by the log store {scheme!r}, which no plugin provides")
            self._open[scheme] = self.types[scheme](self.config)
        return self._open[scheme]

    def write(self, key: TryKey, text: str) -> str:
        return self._store(self.config.log_store).write(key, text)

    def read(self, ref: str) -> str:
        return self._store(ref.split(":", 1)[0]).read(ref)

    def delete(self, refs: Sequence[str]) -> None:
        by_scheme: dict[str, list[str]] = {}
        for ref in refs:
            by_scheme.setdefault(ref.split(":", 1)[0], []).append(ref)
        for scheme, some in by_scheme.items():
            self._store(scheme).delete(some)

    def text(self, row: TaskTry) -> str:
        """A try's whole log: from its row, or through the store that keeps it."""
        return self.read(row.log_ref) if row.log_ref else row.log


def offload(sessions: sessionmaker[Session], stores: LogStores, *, limit: int = 20) -> int:
    """Move up to `limit` finished tries' logs longer than `log_offload_chars` to the store; how many moved."""
    config = stores.config
    with sessions() as session:
        rows = _long_finished_tries(session, config.log_offload_chars, limit)
    moved = 0
    for row in rows:
        key = TryKey(row.dag_id, row.run_id, row.task_id, row.map_index, row.try_number)
        ref = stores.write(key, row.log)
        with sessions.begin() as session:
            # only if the row is still what was copied (nobody cleared or rewrote it meanwhile)
            done = session.execute(
                update(TaskTry)
                .where(
                    TaskTry.dag_id == key.dag_id, TaskTry.run_id == key.run_id, TaskTry.task_id == key.task_id,
                    TaskTry.map_index == key.map_index, TaskTry.try_number == key.try_number,
                    TaskTry.log_ref.is_(None), TaskTry.state == row.state, func.length(TaskTry.log) == len(row.log),
                )
                .values(log=row.log[: config.log_head_chars], log_ref=ref, log_size=len(row.log))
                .execution_options(synchronize_session=False)
            ).rowcount
        moved += int(done or 0)
    return moved


def _long_finished_tries(session: Session, threshold: int, limit: int) -> list[TaskTry]:
    stmt = (
        select(TaskTry)
        .where(TaskTry.log_ref.is_(None), TaskTry.state.in_(FINISHED_TRY_STATES), func.length(TaskTry.log) > threshold)
        .limit(limit)
    )
    return list(session.scalars(stmt))
