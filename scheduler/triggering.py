"""Creating the runs that asset updates and outside events start.

Both run in the scheduler's poll transaction: a run, its links (cursors advanced, event marked
processed) commit together, so a restart neither starts a run twice nor loses an update or event.
The decisions are pure (orchestrator.core.assets.due_updates, orchestrator.core.triggers.first_match).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.core.assets import AssetCondition, due_updates
from orchestrator.core.machine import CORRELATION_FIELD
from orchestrator.core.triggers import EventTriggerSpec, first_match
from orchestrator.store import assets as asset_store
from orchestrator.store import dags as dag_store
from orchestrator.store import event_waits as wait_store
from orchestrator.store import external_events as event_store
from orchestrator.store import run_creation
from orchestrator.store.models import AssetEvent, Dag

log = logging.getLogger(__name__)

EVENTS_PER_POLL = 500  # outside events matched per poll; the rest wait for the next one
CONF_ASSET_EVENTS = 100  # at most this many of the consumed updates are listed in the run's conf


def create_asset_runs(session: Session, now: datetime) -> int:
    """Queue one run of every unpaused asset-scheduled DAG whose assets were updated as its
    condition asks since its last asset-triggered run; its cursors advance with it.

    A DAG at max_active_runs waits: its updates stay unconsumed and make one run later. The run's
    conf lists the updates it consumes under "asset_events". Returns how many runs were created.
    """
    if asset_store.newest_event_id(session) is None:
        return 0  # no asset was ever updated: nothing to look at
    # asset-scheduled DAGs have no cron, hence no next_run_at: that keeps cron DAGs out of the scan
    rows = session.execute(
        select(Dag.dag_id, Dag.spec["asset_schedule"], Dag.spec["max_active_runs"]).where(
            Dag.is_active.is_(True), Dag.is_paused.is_(False), Dag.next_run_at.is_(None)
        )
    ).all()
    conditions = {dag_id: AssetCondition.model_validate(cond) for dag_id, cond, _ in rows if cond}
    if not conditions:
        return 0
    limits = {dag_id: limit for dag_id, _, limit in rows}
    newest = asset_store.newest_event_ids(session, {u for c in conditions.values() for u in c.uris})
    cursors = asset_store.cursors(session, list(conditions))
    due: dict[str, dict[str, int]] = {}
    for dag_id, condition in conditions.items():
        consume = due_updates(condition, newest, cursors.get(dag_id, {}))
        if consume is not None:
            due[dag_id] = consume
    active = dag_store.active_run_counts(session, list(due)) if due else {}
    created = 0
    for dag_id, consume in sorted(due.items()):
        limit = limits[dag_id]
        if limit is not None and active.get(dag_id, 0) >= limit:
            continue
        seen = cursors.get(dag_id, {})
        consumed = asset_store.events_between(session, {u: (seen.get(u, 0), upto) for u, upto in consume.items()}, CONF_ASSET_EVENTS)
        run_creation.create_run(
            session, dag_id, run_id=f"asset__{now.isoformat()}__{max(consume.values())}", run_type="asset",
            logical_date=now, data_interval=None, conf={"asset_events": [_event_conf(e) for e in consumed]}, now=now,
            actor="scheduler",
        )
        asset_store.advance_cursors(session, dag_id, consume)
        session.flush()
        created += 1
    return created


def _event_conf(event: AssetEvent) -> dict[str, Any]:
    """An update as the run's conf lists it (tasks see it in their params)."""
    return {
        "id": event.id, "uri": event.uri, "at": event.at.isoformat(), "source_dag_id": event.source_dag_id,
        "source_run_id": event.source_run_id, "source_task_id": event.source_task_id, "actor": event.actor, "extra": event.extra,
    }


@dataclass(frozen=True)
class EventPass:
    """What one pass over the outside events did; `more`: it stopped at its limit, events are left."""

    created: int
    more: bool


def create_event_runs(session: Session, now: datetime) -> int:
    """`process_events`; returns how many runs were created."""
    return process_events(session, now).created


def correlation_of(payload: Any) -> str | None:
    """The business correlation id an outside event carries (its payload's `correlation_id`), if any."""
    value = payload.get(CORRELATION_FIELD) if isinstance(payload, dict) else None
    return value[:250] if isinstance(value, str) and value else None


def process_events(session: Session, now: datetime, limit: int = EVENTS_PER_POLL) -> EventPass:
    """Match the outside events not yet processed, oldest first, against the triggers of every
    active, unpaused DAG; queue a run (run_type "event", conf from the trigger, the correlation id from
    the payload's `correlation_id`) for each match.
    The same events are matched against the tasks waiting for one (WaitForEvent), which the
    schedulers driving their runs then settle (scheduler/waits.py).

    Each event is linked to its runs and marked processed in this transaction. A trigger whose
    expression fails is recorded in the event log for its DAG, which does not start; the other
    DAGs go on. Runs beyond max_active_runs stay queued until there is room. At most `limit`
    events are taken, so that the pass stays short; the scheduler comes back for the rest at once.
    """
    pending = event_store.unprocessed(session, limit)
    if not pending:
        return EventPass(0, False)
    wait_store.match(session, pending, now)
    rows = session.execute(
        select(Dag.dag_id, Dag.spec["triggers"]).where(Dag.is_active.is_(True), Dag.is_paused.is_(False)).order_by(Dag.dag_id)
    ).all()
    triggers = {dag_id: [EventTriggerSpec.model_validate(t) for t in specs] for dag_id, specs in rows if specs}
    created = 0
    for event in pending:
        document = {"type": event.type, "payload": event.payload, "id": event.event_id}
        for dag_id, dag_triggers in triggers.items():
            outcome = first_match(dag_triggers, document)
            if outcome is None:
                continue
            if outcome.error is not None:
                log.warning("outside event %s does not start DAG %s: %s", event.id, dag_id, outcome.error)
                event_store.trigger_failed(session, event, dag_id, outcome.error, now)
                continue
            run = run_creation.create_run(
                session, dag_id, run_id=f"event__{event.received_at.isoformat()}__{event.id}", run_type="event",
                logical_date=event.received_at, data_interval=None, conf=outcome.conf, now=now, actor=f"event:{event.id}",
                correlation_id=correlation_of(event.payload),
            )
            event_store.started_run(session, event, dag_id, run.run_id)
            created += 1
        event_store.mark_processed(session, event, now)
    session.flush()
    return EventPass(created, len(pending) >= limit)
