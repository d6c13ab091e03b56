"""Keeping the store in step with the DAG folder: parse what changed, forget what is gone."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.core.dependencies import find_cycles
from orchestrator.core.parsing import FileResult
from orchestrator.execution.loader import content_hash, find_dag_files, parse_files
from orchestrator.store import dags as dag_store
from orchestrator.store.db import exclusive_section
from orchestrator.store.models import DagFile

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    """What one pass over the DAG folder did."""

    parsed: list[FileResult] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def errors(self) -> list[FileResult]:
        return [r for r in self.parsed if r.error]


def sync_dag_folder(
    sessions: sessionmaker[Session], config: Config, now: Callable[[], datetime] = lambda: datetime.now(UTC)
) -> SyncReport:
    """Parse new and changed files in the DAG folder and store their DAGs or import errors.

    Several schedulers may share the folder and the database: one of them syncs at a time (the
    next one then finds the files it parsed unchanged).
    """
    with exclusive_section(sessions.kw["bind"], "dag-folder-sync"):
        return _sync(sessions, config, now)


def _sync(sessions: sessionmaker[Session], config: Config, now: Callable[[], datetime]) -> SyncReport:
    folder = config.resolved_dags_folder
    on_disk = {s.path: s for s in find_dag_files(folder)}
    with sessions() as session:
        known = {row.path: row for row in session.scalars(select(DagFile))}
        refused = dag_store.refused_files(session)
    report = SyncReport(removed=[p for p in known if p not in on_disk])
    changed: dict[str, str] = {}
    touched = []
    for path, stat in on_disk.items():
        row = known.get(path)
        if row is not None and row.mtime == stat.mtime and row.size == stat.size:
            report.unchanged += 1
            continue
        try:
            digest = content_hash(path)
        except FileNotFoundError:
            continue
        if row is not None and row.content_hash == digest:
            touched.append(stat)
            report.unchanged += 1
            continue
        changed[path] = digest
    if changed or report.removed:
        # a file refused for a dag_id clash or a depends_on cycle may load now that another file changed or went away
        for path in sorted(refused & on_disk.keys() - changed.keys()):
            try:
                changed[path] = content_hash(path)
            except FileNotFoundError:
                continue
            report.unchanged -= 1
    if changed:
        report.parsed = parse_files(
            sorted(changed), timeout_s=config.dag_file_timeout_s, processes=config.parsing_processes, dags_root=folder
        )
    if not (report.parsed or report.removed or touched):
        return report
    with sessions.begin() as session:
        dag_store.forget_files(session, report.removed)
        for stat in touched:
            dag_store.touch_file(session, stat)
        stamp = now()
        report.parsed = [
            dag_store.record_file_result(
                session, result, on_disk[result.path], changed[result.path], stamp, paused_default=config.dags_paused_at_creation
            )
            # files that clashed go last, after the files that may have freed their dag_id
            for result in sorted(report.parsed, key=lambda r: (r.path in refused, r.path))
        ]
        report.parsed = _refuse_dependency_cycles(session, report.parsed, stamp)
    for result in report.errors:
        log.warning("import error in %s: %s", result.path, result.error)
    return report


def _refuse_dependency_cycles(session: Session, parsed: list[FileResult], now: datetime) -> list[FileResult]:
    """DAGs on a cycle of depends_on are not scheduled: their files get an import error naming the
    cycle (changed or not: the cycle is theirs together). Returns `parsed` with those errors."""
    cycles = find_cycles(dag_store.dependency_graph(session))
    if not cycles:
        return parsed
    errors = dag_store.refuse_dags(
        session,
        {
            dag_id: f"{dag_store.DEPENDENCY_CYCLE}: depends_on forms a cycle: {' -> '.join(path)}; "
            f"these DAGs are not scheduled until one of them stops depending on the next"
            for dag_id, path in cycles.items()
        },
        now,
    )
    return [r for r in parsed if r.path not in errors] + [FileResult(path, error=message) for path, message in sorted(errors.items())]
