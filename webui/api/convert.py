"""Store rows to API models: the few fields computed on the way (durations, tags, previews)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from orchestrator.core.schedule import as_utc, zone
from orchestrator.core.spec import DagSpec, TaskSpec
from orchestrator.core.states import TaskState
from orchestrator.store.models import Dag, DagRun
from webui.api.schemas import DagDetail, DagSummary, RunOut, TaskDetail, TaskInstanceOut, TryOut

RESULT_PREVIEW_CHARS = 4000


def duration_s(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start is not None and end is not None else None


def dag_summary(row: Dag) -> DagSummary:
    spec: dict[str, Any] = row.spec or {}
    return DagSummary(
        dag_id=row.dag_id, description=spec.get("description"), tags=list(spec.get("tags") or ()), fileloc=row.fileloc,
        is_paused=row.is_paused, is_active=row.is_active, schedule=row.schedule, timezone=row.timezone,
        next_run_at=row.next_run_at, version_hash=row.version_hash, last_parsed_at=row.last_parsed_at,
        task_count=len(spec.get("tasks") or ()),
    )


def _aware_spec(spec: DagSpec) -> DagSpec:
    """The spec with start and end dates in UTC: a naive one means wall time in the DAG's time zone,
    which an RFC 3339 date-time (what the API documents) cannot express."""
    tz = zone(spec.timezone)
    return spec.model_copy(
        update={name: as_utc(value, tz) for name in ("start_date", "end_date") if (value := getattr(spec, name)) is not None}
    )


def dag_detail(row: Dag) -> DagDetail:
    return DagDetail(**dag_summary(row).model_dump(), spec=_aware_spec(DagSpec.model_validate(row.spec)))


_RUN_COMPUTED = ("duration_s", "parent", "children")


def run_out(row: DagRun, children: Sequence[DagRun] = ()) -> RunOut:
    """A run, with the runs it triggered (`children`) and the one that triggered it."""
    parent = None
    if row.parent_dag_id is not None:
        parent = {"dag_id": row.parent_dag_id, "run_id": row.parent_run_id, "task_id": row.parent_task_id}
    return RunOut.model_validate({
        **{c: getattr(row, c) for c in RunOut.model_fields if c not in _RUN_COMPUTED},
        "duration_s": duration_s(row.start_date, row.end_date),
        "parent": parent,
        "children": [{"dag_id": c.dag_id, "run_id": c.run_id, "task_id": c.parent_task_id, "state": c.state} for c in children],
    })


def task_out(row: Any) -> TaskInstanceOut:
    """A task instance row (ORM object or a Row with the same names)."""
    return TaskInstanceOut(
        task_id=row.task_id, map_index=row.map_index, state=TaskState(row.state), try_number=row.try_number,
        max_tries=row.max_tries, start_date=row.start_date, end_date=row.end_date,
        duration_s=duration_s(row.start_date, row.end_date), next_retry_at=row.next_retry_at, worker=row.worker,
    )


def try_out(row: Any, log_chars: int) -> TryOut:
    return TryOut(
        try_number=row.try_number, state=row.state, start_date=row.start_date, end_date=row.end_date,
        duration_s=duration_s(row.start_date, row.end_date), worker=row.worker, error=row.error, log_chars=log_chars,
    )


def result_preview(result: Any) -> tuple[str | None, bool]:
    """The result as JSON, cut to RESULT_PREVIEW_CHARS; and whether it was cut."""
    if result is None:
        return None, False
    text = json.dumps(result)
    return text[:RESULT_PREVIEW_CHARS], len(text) > RESULT_PREVIEW_CHARS


def task_detail(spec: TaskSpec, instance: Any | None, tries: list[TryOut], instances: list[TaskInstanceOut] | None = None) -> TaskDetail:
    """A task of a run (or one instance of a mapped task); `instance` is None while the run has not
    created its task instances; `instances` are a mapped task's."""
    if instance is None:
        base: dict[str, Any] = dict(
            task_id=spec.task_id, map_index=-1, state=None, try_number=0, max_tries=spec.retries + 1, start_date=None,
            end_date=None, duration_s=None, next_retry_at=None, worker=None,
        )
        preview, cut = None, False
    else:
        base = task_out(instance).model_dump()
        preview, cut = result_preview(instance.result)
    return TaskDetail(**base, spec=spec, tries=tries, result_preview=preview, result_truncated=cut, instances=instances or [])
