"""What changed between two versions of a DAG: tasks added, removed and changed, field by field.

Pure: it compares two DagSpecs as JSON (as the store keeps them in `dag_version.spec`). A field
holding an object (params, an input schema, a task's failure routes) is compared key by key, and
its changes are named with dots (`params.region`); any other value is compared whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from orchestrator.core.spec import DagSpec


class FieldChange(BaseModel):
    """One field whose value differs; `old` or `new` is null when the field was not set there."""

    field: str = Field(description="the field's name; a key of an object field after a dot (params.region)")
    old: Any = None
    new: Any = None


class TaskChange(BaseModel):
    task_id: str
    changes: list[FieldChange]


class SpecDiff(BaseModel):
    """The difference from one version of a DAG to another."""

    dag: list[FieldChange] = Field(default_factory=list, description="DAG-level fields that changed (schedule, params...)")
    tasks_added: list[str] = Field(default_factory=list)
    tasks_removed: list[str] = Field(default_factory=list)
    tasks_changed: list[TaskChange] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.dag or self.tasks_added or self.tasks_removed or self.tasks_changed)


def _normalized(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec with every field present: a version stored before a field existed gets its default,
    so a field added to the model later is not reported as a change."""
    try:
        return DagSpec.model_validate(spec).model_dump(mode="json")
    except ValidationError:
        return dict(spec)  # an old spec this model no longer reads: compared as stored


def field_changes(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[FieldChange]:
    """The fields whose values differ, in name order; objects are compared key by key."""
    changes: list[FieldChange] = []
    for name in sorted(old.keys() | new.keys()):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            changes += field_changes(a, b, f"{prefix}{name}.")
        else:
            changes.append(FieldChange(field=f"{prefix}{name}", old=a, new=b))
    return changes


def diff_specs(old: Mapping[str, Any], new: Mapping[str, Any]) -> SpecDiff:
    """What changed from the DagSpec `old` to `new` (both as JSON)."""
    before, after = _normalized(old), _normalized(new)
    old_tasks = {t["task_id"]: t for t in before.pop("tasks", ())}
    new_tasks = {t["task_id"]: t for t in after.pop("tasks", ())}
    changed = [
        TaskChange(task_id=tid, changes=changes)
        for tid in new_tasks
        if tid in old_tasks and (changes := field_changes(old_tasks[tid], new_tasks[tid]))
    ]
    return SpecDiff(
        dag=field_changes(before, after),
        tasks_added=[tid for tid in new_tasks if tid not in old_tasks],
        tasks_removed=[tid for tid in old_tasks if tid not in new_tasks],
        tasks_changed=changed,
    )
