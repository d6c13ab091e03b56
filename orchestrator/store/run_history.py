"""A run rebuilt from its event rows (orchestrator.core.replay), beside its stored rows: what
`orchestrator runs replay`, the API's replay endpoint and the run page's time slider read."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.core.replay import InstanceImage, InstanceKey, RunImage, StoredRun, differences, replay
from orchestrator.store.models import Event, TaskInstance
from orchestrator.store.queries import get_run
from orchestrator.store.runs import spec_for_version


@dataclass(frozen=True)
class Replayed:
    """A run's image as of an event, its stored rows, and what differs (only for the whole history)."""

    image: RunImage
    stored_state: str
    stored: dict[InstanceKey, InstanceImage]
    differences: list[str]
    event_ids: list[int]
    """Every event id of the run, oldest first: the positions a time slider can stand at."""


def replay_run(session: Session, dag_id: str, run_id: str, *, until: int | None = None) -> Replayed:
    """Fold the run's events (up to event `until`, if given) and compare the whole history's image
    with the stored rows. NotFoundError names a run that does not exist."""
    run = get_run(session, dag_id, run_id)
    spec = spec_for_version(session, dag_id, run.version_hash)
    events = list(session.scalars(select(Event).where(Event.dag_id == dag_id, Event.run_id == run_id).order_by(Event.id)))
    image = replay([t.task_id for t in spec.tasks], events, until=until)
    rows = session.execute(
        select(TaskInstance.task_id, TaskInstance.map_index, TaskInstance.state, TaskInstance.try_number)
        .where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
    ).all()
    stored = {(r.task_id, r.map_index): InstanceImage(r.state, r.try_number) for r in rows}
    stored_run = StoredRun((run.machine or {}).get("state"), run.run_data or {}, run.correlation_id)
    found = differences(image, run.state, stored, stored_run) if until is None else []
    return Replayed(image, run.state, stored, found, [e.id for e in events])
