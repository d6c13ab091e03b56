"""A run's state rebuilt from its event rows alone (seed 001's event-sourced history). Pure.

Every state change of a run and its task instances is appended as an event in the same
transaction as the row it changes (orchestrator.store.runs.Batch), so folding a run's events in
order gives back its rows: the run's state, and each task instance's state and try number. The
definition (the task ids of the run's DagSpec version) says which task instances the run's
first start made; a mapped task's expansion says (in its event's payload) how many instances
it has. `replay` folds events up to any point, which is what the run page's time slider shows;
`differences` compares an image with the stored rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from orchestrator.core.machine import CORRELATION_FIELD, SENT_KIND, STATE_KIND
from orchestrator.core.run_data import RUN_DATA_SET
from orchestrator.core.states import RunState, TaskState

MAP_COUNT = "map_count"
"""The payload field of a mapped task's expansion event: how many instances it has from then on."""


class EventRow(Protocol):
    """What replay reads of an event row (orchestrator.store.models.Event)."""

    id: int
    at: datetime
    kind: str
    task_id: str | None
    map_index: int | None
    try_number: int | None
    to_state: str | None
    payload: dict[str, Any] | None


@dataclass(frozen=True)
class InstanceImage:
    """A task instance as the events say it stands."""

    state: str = TaskState.PENDING.value
    try_number: int = 0


InstanceKey = tuple[str, int]
"""(task_id, map_index); -1 for an unmapped task or a mapped task itself."""


@dataclass
class RunImage:
    """A run as its events say it stands after event `event_id` (None: before any)."""

    state: str | None = None
    tasks: dict[InstanceKey, InstanceImage] = field(default_factory=dict)
    event_id: int | None = None
    at: datetime | None = None
    events: int = 0
    """How many events were folded."""
    machine_state: str | None = None
    """A state-machine run's state (its last `machine.state` event); None for a DAG run."""
    run_data: dict[str, Any] = field(default_factory=dict)
    """The run variables, as their `run_data.set` events left them."""
    correlation_id: str | None = None
    """Given when the run was queued, or taken from the first sent event that carried one."""


def replay(task_ids: Iterable[str], events: Iterable[EventRow], *, until: int | None = None) -> RunImage:
    """Fold a run's events (in id order) into its image; with `until`, only events up to that id.

    `task_ids` are the tasks of the run's DagSpec version: the run's first start made one pending
    instance of each (a cleared run that is queued again keeps its instances).
    """
    image = RunImage()
    spec_tasks = list(task_ids)
    for e in events:
        if until is not None and e.id > until:
            break
        image.event_id, image.at, image.events = e.id, e.at, image.events + 1
        payload = e.payload or {}
        if e.kind == "run.queued" and image.correlation_id is None and payload.get(CORRELATION_FIELD):
            image.correlation_id = payload[CORRELATION_FIELD]
        elif e.kind == STATE_KIND:
            image.machine_state = payload.get("to")
        elif e.kind == RUN_DATA_SET and isinstance(payload.get("key"), str):
            image.run_data[payload["key"]] = payload.get("value")
        elif e.kind == SENT_KIND and image.correlation_id is None:
            sent = (payload.get("payload") or {}).get(CORRELATION_FIELD)
            if isinstance(sent, str) and sent:
                image.correlation_id = sent[:250]
        if e.kind.startswith("run.") and e.to_state is not None and e.task_id is None:
            image.state = e.to_state
            if e.to_state == RunState.RUNNING.value and not image.tasks:
                image.tasks = {(tid, -1): InstanceImage() for tid in spec_tasks}
        elif e.kind.startswith("task.") and e.task_id is not None and e.to_state is not None:
            key = (e.task_id, -1 if e.map_index is None else e.map_index)
            before = image.tasks.get(key, InstanceImage())
            tries = before.try_number if e.try_number is None else e.try_number
            image.tasks[key] = InstanceImage(e.to_state, tries)
            count = (e.payload or {}).get(MAP_COUNT)
            if isinstance(count, int):
                _resize(image.tasks, e.task_id, count)
    return image


def _resize(tasks: dict[InstanceKey, InstanceImage], task_id: str, count: int) -> None:
    """A mapped task was expanded into `count` instances: missing ones are made (pending), those
    past `count` dropped (its input got shorter after a clear)."""
    for i in range(count):
        tasks.setdefault((task_id, i), InstanceImage())
    for key in [k for k in tasks if k[0] == task_id and k[1] >= count]:
        del tasks[key]


@dataclass(frozen=True)
class StoredRun:
    """What the run row holds besides its state that replay rebuilds too."""

    machine_state: str | None = None
    run_data: Mapping[str, Any] = field(default_factory=dict)
    correlation_id: str | None = None


def differences(
    image: RunImage, run_state: str, rows: Mapping[InstanceKey, InstanceImage], stored_run: StoredRun | None = None,
) -> list[str]:
    """What the stored run row and task instance rows hold that the image does not (empty: they match)."""
    found: list[str] = []
    if image.state != run_state:
        found.append(f"run: replayed state {image.state}, stored {run_state}")
    if stored_run is not None:
        if image.machine_state != stored_run.machine_state:
            found.append(f"run: replayed machine state {image.machine_state}, stored {stored_run.machine_state}")
        if image.run_data != dict(stored_run.run_data):
            found.append(f"run: replayed run data {image.run_data}, stored {dict(stored_run.run_data)}")
        if image.correlation_id != stored_run.correlation_id:
            found.append(f"run: replayed correlation id {image.correlation_id}, stored {stored_run.correlation_id}")
    for key in sorted(set(image.tasks) | set(rows), key=lambda k: (k[0], k[1])):
        where = key[0] if key[1] < 0 else f"{key[0]}[{key[1]}]"
        replayed, stored = image.tasks.get(key), rows.get(key)
        if stored is None:
            found.append(f"task {where}: replayed ({replayed.state if replayed else '?'}) but no stored row")
        elif replayed is None:
            found.append(f"task {where}: stored ({stored.state}) but no event made it")
        else:
            if replayed.state != stored.state:
                found.append(f"task {where}: replayed state {replayed.state}, stored {stored.state}")
            if replayed.try_number != stored.try_number:
                found.append(f"task {where}: replayed try {replayed.try_number}, stored {stored.try_number}")
    return found
