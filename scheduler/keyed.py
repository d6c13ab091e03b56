"""Idempotency keys on the scheduler's side: a task whose key already succeeded is not run again.

Before a keyed task is submitted, its key is rendered and looked up: in the store (other
schedulers' and earlier runs' successes) and among this scheduler's own successes not yet
committed, which a lookup in another session cannot see. The tracker settles the tasks found
(success, with the recorded result) and those whose key cannot be rendered (failed).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.core.idempotency import SKIPPED_BY_IDEMPOTENCY, IdempotencyKeyError, KeyRecord
from orchestrator.core.outcomes import KeySucceeded, RunView, idempotency_key
from orchestrator.core.planner import Submit
from orchestrator.store import events as event_store
from orchestrator.store.idempotency import key_row
from orchestrator.store.runs import Batch, RunKey

log = logging.getLogger(__name__)

RECENT_KEYS = 10_000
"""This scheduler's own successes remembered; the oldest are committed long since."""


@dataclass
class KeyedSubmits:
    """What the lookup says about the keyed tasks of one plan."""

    unrendered: list[tuple[Submit, IdempotencyKeyError]] = field(default_factory=list)
    """Their key cannot be rendered: they fail, saying why."""
    reused: list[tuple[Submit, KeyRecord]] = field(default_factory=list)
    """Their key already succeeded: they succeed with its result, without running."""
    held: set[str] = field(default_factory=set)
    """The lookup failed: they wait for the next poll."""
    not_submitted: set[str] = field(default_factory=set)
    """Every keyed task not to submit now (the above, and those chained to an upstream in flight)."""


class KeyBook:
    """Looks up keyed tasks' keys before they run, and records the keys they succeed with."""

    def __init__(self, lookup: Callable[[Collection[str]], dict[str, KeyRecord]]) -> None:
        self._lookup = lookup
        self._recent: dict[str, KeyRecord] = {}

    def judge(self, run: RunView, commands: list[Any]) -> KeyedSubmits | None:
        """The plan's keyed submits looked up (None: there are none). One chained to an in-flight
        upstream is not submitted: it is looked up once that upstream ended."""
        keyed = [
            c for c in commands
            if isinstance(c, Submit) and c.map_index < 0 and run.spec.task_map[c.task_id].idempotency_key is not None
        ]
        if not keyed:
            return None
        verdict = KeyedSubmits()
        keys: dict[str, str] = {}
        for c in keyed:
            if c.after:
                continue
            try:
                keys[c.task_id] = idempotency_key(run, c.task_id)
            except IdempotencyKeyError as exc:
                verdict.unrendered.append((c, exc))
        verdict.not_submitted = {c.task_id for c in keyed if c.task_id not in keys}
        try:
            found = self._lookup(set(keys.values()))
        except Exception:  # noqa: BLE001 - the store is unreachable: run nothing whose key is unknown
            log.exception("cannot look up idempotency keys; the tasks wait for the next poll")
            verdict.held = set(keys)
            verdict.not_submitted |= verdict.held
            return verdict
        found.update((k, self._recent[k]) for k in keys.values() if k in self._recent)
        for c in keyed:
            record = found.get(keys.get(c.task_id, ""))
            if record is not None:
                verdict.reused.append((c, record))
                verdict.not_submitted.add(c.task_id)
        return verdict

    def record(self, run: RunKey, task_id: str, success: KeySucceeded, batch: Batch) -> None:
        """A keyed task succeeded: its key is written with the batch, and known here at once."""
        row = key_row(success.key, run.dag_id, run.run_id, task_id, success.try_number, success.result, success.at)
        batch.idempotency_keys.append(row)
        self._recent[success.key] = KeyRecord(**row)
        if len(self._recent) > RECENT_KEYS:
            del self._recent[next(iter(self._recent))]


def reused_event(run: RunKey, task_id: str, try_number: int, record: KeyRecord, now: datetime) -> dict[str, Any]:
    """The event saying a task was settled by the success its key stands for."""
    return event_store.event(
        SKIPPED_BY_IDEMPOTENCY, now, dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, try_number=try_number,
        reason=record.describe(),
        payload={"key": record.key, "dag_id": record.dag_id, "run_id": record.run_id, "task_id": record.task_id,
                 "try_number": record.try_number},
    )
