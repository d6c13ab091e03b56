"""Task groups: `with TaskGroup("extract"):` prefixes the ids of the tasks made inside ("extract.fetch").

Groups nest ("extract.api.fetch"), are linked with `>>` like tasks (a group stands for its roots
when downstream of something and for its leaves when upstream), and are kept in the DagSpec
(`DagSpec.task_groups`, `TaskSpec.task_group`) so the UI can draw them collapsible. A group is
authoring structure only: the scheduler plans its tasks like any other.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from orchestrator.authoring.linking import Linkable
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.spec import TaskGroupSpec

if TYPE_CHECKING:
    from orchestrator.authoring.dag import DAG
    from orchestrator.authoring.tasks import BaseTask

# no '.', which separates a group's id from its children's
_GROUP_ID = re.compile(r"[A-Za-z0-9_\-]{1,100}")


class TaskGroup(Linkable):
    """A named set of tasks (and nested groups) of one DAG."""

    def __init__(self, group_id: str, *, tooltip: str | None = None, dag: DAG | None = None) -> None:
        from orchestrator.authoring.dag import current_dag

        if not isinstance(group_id, str) or not _GROUP_ID.fullmatch(group_id):
            raise DagDefinitionError(
                f"group_id {group_id!r} is not valid: use 1-100 letters, digits, '_' or '-' (no '.')"
            )
        if tooltip is not None and not isinstance(tooltip, str):
            raise DagDefinitionError(f"group {group_id!r}: tooltip must be a string, not {tooltip!r}")
        self.dag = dag or current_dag()
        if self.dag is None:
            raise DagDefinitionError(
                f"task group {group_id!r} was created outside a DAG: create it inside `with DAG(...):` or pass dag="
            )
        self.parent: TaskGroup | None = self.dag.current_group()
        self.group_id = f"{self.parent.group_id}.{group_id}" if self.parent else group_id
        self.tooltip = tooltip
        self._tasks: list[BaseTask] = []
        self.dag.add_group(self)

    def __enter__(self) -> TaskGroup:
        assert self.dag is not None
        self.dag.open_group(self)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.dag is not None
        self.dag.close_group(self)

    def add(self, t: BaseTask) -> None:
        """Record a task made inside this group (and so inside every enclosing group)."""
        group: TaskGroup | None = self
        while group is not None:
            group._tasks.append(t)
            group = group.parent

    def child_id(self, task_id: str) -> str:
        """The full id of a task called `task_id` inside this group."""
        return f"{self.group_id}.{task_id}"

    @property
    def tasks(self) -> list[BaseTask]:
        """Every task inside the group, nested groups' included, in the order they were made."""
        return list(self._tasks)

    @property
    def roots(self) -> list[BaseTask]:
        """The group's tasks with no upstream inside the group: what `x >> group` links to."""
        inside = {t.task_id for t in self._tasks}
        return [t for t in self._nonempty() if not inside.intersection(t.upstream_ids)]

    @property
    def leaves(self) -> list[BaseTask]:
        """The group's tasks with no downstream inside the group: what `group >> x` links from."""
        feeding = {up for t in self._tasks for up in t.upstream_ids}
        return [t for t in self._nonempty() if t.task_id not in feeding]

    def _nonempty(self) -> list[BaseTask]:
        if not self._tasks:
            raise DagDefinitionError(f"task group {self.group_id!r} has no tasks to link: add tasks before using >> on it")
        return self._tasks

    def to_spec(self) -> TaskGroupSpec:
        return TaskGroupSpec(
            group_id=self.group_id, parent=self.parent.group_id if self.parent else None, tooltip=self.tooltip
        )

    # -- dependencies: the same operators as tasks
    def set_upstream(self, other: Any) -> None:
        for root in self.roots:
            root.set_upstream(other)

    def set_downstream(self, other: Any) -> None:
        for leaf in self.leaves:
            leaf.set_downstream(other)

    def __repr__(self) -> str:
        return f"<TaskGroup {self.group_id!r} ({len(self._tasks)} tasks)>"


