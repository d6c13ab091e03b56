"""The asset tables: asset_event (every update of an asset) and asset_cursor (what each
asset-scheduled DAG has run for). Every write goes through here, and the reads the scheduler,
the API and the UI make of them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, insert, or_, select
from sqlalchemy.orm import Session

from orchestrator.core.assets import AssetRefs, asset_references
from orchestrator.core.spec import DagSpec
from orchestrator.store import changes as change_store
from orchestrator.store.models import AssetCursor, AssetEvent, Dag


def outlet_events(dag_id: str, run_id: str, task_id: str, uris: Iterable[str], at: datetime) -> list[dict[str, Any]]:
    """The asset_event rows a task's success records, one per outlet (for `record`)."""
    return [
        {"uri": uri, "at": at, "source_dag_id": dag_id, "source_run_id": run_id, "source_task_id": task_id, "actor": "scheduler", "extra": {}}
        for uri in uris
    ]


def record(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert asset_event rows in the caller's transaction (one executemany)."""
    if rows:
        session.execute(insert(AssetEvent), list(rows))


def post_event(session: Session, uri: str, extra: dict[str, Any], now: datetime, actor: str) -> AssetEvent:
    """An update of `uri` reported by an outside system; the row, with its id."""
    row = AssetEvent(uri=uri, at=now, actor=actor, extra=extra)
    session.add(row)
    session.flush()
    change_store.touch(session)
    return row


def newest_event_id(session: Session) -> int | None:
    """The id of the newest update of any asset (None before the first)."""
    return session.scalar(select(func.max(AssetEvent.id)))


def newest_event_ids(session: Session, uris: Iterable[str]) -> dict[str, int]:
    """uri -> the id of its newest update, for the `uris` ever updated."""
    uris = list(uris)
    if not uris:
        return {}
    rows = session.execute(select(AssetEvent.uri, func.max(AssetEvent.id)).where(AssetEvent.uri.in_(uris)).group_by(AssetEvent.uri))
    return {uri: newest for uri, newest in rows}


def cursors(session: Session, dag_ids: Iterable[str]) -> dict[str, dict[str, int]]:
    """dag_id -> uri -> the newest update that DAG has run for."""
    out: dict[str, dict[str, int]] = {}
    for row in session.scalars(select(AssetCursor).where(AssetCursor.dag_id.in_(list(dag_ids)))):
        out.setdefault(row.dag_id, {})[row.uri] = row.last_event_id
    return out


def advance_cursors(session: Session, dag_id: str, newest: Mapping[str, int]) -> None:
    """Remember that `dag_id` has run for the updates up to `newest[uri]` of each asset."""
    for uri, event_id in newest.items():
        session.merge(AssetCursor(dag_id=dag_id, uri=uri, last_event_id=event_id))


def events_between(session: Session, bounds: Mapping[str, tuple[int, int]], limit: int) -> list[AssetEvent]:
    """The updates of each uri with after < id <= upto (`bounds[uri] = (after, upto)`), newest first."""
    if not bounds:
        return []
    clauses = [and_(AssetEvent.uri == uri, AssetEvent.id > after, AssetEvent.id <= upto) for uri, (after, upto) in bounds.items()]
    return list(session.scalars(select(AssetEvent).where(or_(*clauses)).order_by(AssetEvent.id.desc()).limit(limit)))


def list_events(session: Session, *, uri: str | None, limit: int, offset: int) -> tuple[list[AssetEvent], int]:
    """Updates (of one asset, or all), newest first, and how many there are."""
    where = [] if uri is None else [AssetEvent.uri == uri]
    total = session.scalar(select(func.count()).select_from(AssetEvent).where(*where)) or 0
    rows = session.scalars(select(AssetEvent).where(*where).order_by(AssetEvent.id.desc()).limit(limit).offset(offset))
    return list(rows), total


@dataclass(frozen=True)
class AssetSummary:
    """One known asset: its last update, how many there were, who updates it and who waits for it."""

    uri: str
    last_event_id: int | None
    last_updated_at: datetime | None
    updates: int
    refs: AssetRefs


def summaries(session: Session) -> list[AssetSummary]:
    """Every asset that an active DAG produces or waits for, or that was ever updated, by uri."""
    specs = [DagSpec.model_validate(spec) for spec in session.scalars(select(Dag.spec).where(Dag.is_active.is_(True)))]
    refs = asset_references(specs)
    stats = {
        uri: (newest, at, count)
        for uri, newest, at, count in session.execute(
            select(AssetEvent.uri, func.max(AssetEvent.id), func.max(AssetEvent.at), func.count()).group_by(AssetEvent.uri)
        )
    }
    return [
        AssetSummary(uri, *stats.get(uri, (None, None, 0)), refs=refs.get(uri, AssetRefs()))
        for uri in sorted(refs.keys() | stats.keys())
    ]
