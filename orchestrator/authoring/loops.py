"""Loop-back: a task group that runs again until a condition holds (seed 000's "rejected -> resubmit").

    with LoopGroup("review", repeat_until=lambda results: results["review.decide"] == "approved", max_iterations=3) as review:
        submit = PythonTask(task_id="submit", ...)
        submit >> PythonTask(task_id="decide", ...)
    prepare >> review >> publish

When the group's tasks have finished, its controller task (`<group>.repeat_until`, made when the
`with` block closes) calls `repeat_until` on a worker with the results of the group's tasks, by
full task id. A true answer ends the loop and the tasks after the group run; a false one clears
the group's tasks and they run again as the next iteration. After `max_iterations` false answers
the controller fails with that reason (and so the tasks after the group are upstream_failed).

Each iteration is recorded: a `loop.iteration` event with its number and whether it was done,
the controller's result ({"done", "iteration"}), and every try of every iteration stays in the
tries' history (a repeated task's try number keeps counting). The decisions are pure
(`orchestrator.core.planner.settle_outcome`); the scheduler clears the group (`RunTracker`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orchestrator.authoring.python_tasks import PythonTask
from orchestrator.authoring.task_group import TaskGroup
from orchestrator.authoring.tasks import XComArg
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.spec import LoopSpec, TaskSpec
from orchestrator.core.states import TriggerRule

if TYPE_CHECKING:
    from orchestrator.authoring.dag import DAG

CONTROLLER_ID = "repeat_until"
"""The local id of a loop group's controller task (its full id is `<group>.repeat_until`)."""


class LoopGroup(TaskGroup):
    """A task group whose tasks repeat until `repeat_until(results)` is true, at most `max_iterations` times.

    `results` maps each of the group's task ids (full ids, "<group>.<task>") to its result in the
    iteration that just ended. Link the group (`a >> group >> b`), not its inner tasks, to tasks
    outside it: `b` then waits for the loop to end.
    """

    def __init__(
        self,
        group_id: str,
        *,
        repeat_until: Callable[[dict[str, Any]], Any],
        max_iterations: int,
        tooltip: str | None = None,
        dag: DAG | None = None,
    ) -> None:
        super().__init__(group_id, tooltip=tooltip, dag=dag)
        if not callable(repeat_until):
            raise DagDefinitionError(f"loop group {self.group_id!r}: repeat_until must be callable, not {repeat_until!r}")
        if isinstance(max_iterations, bool) or not isinstance(max_iterations, int) or max_iterations < 1:
            raise DagDefinitionError(f"loop group {self.group_id!r}: max_iterations must be a whole number >= 1, not {max_iterations!r}")
        self.repeat_until = repeat_until
        self.max_iterations = max_iterations
        self.controller: LoopController | None = None

    def __enter__(self) -> LoopGroup:
        if self.controller is not None:
            raise DagDefinitionError(f"loop group {self.group_id!r} is closed: its tasks are made in one `with` block")
        super().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                body = self.tasks
                if not body:
                    raise DagDefinitionError(f"loop group {self.group_id!r} has no tasks to repeat")
                self.controller = LoopController(self, body)
        finally:
            super().__exit__(*exc)


class LoopController(PythonTask):
    """The task that ends each iteration of a LoopGroup: calls `repeat_until` with the group's results."""

    def __init__(self, group: LoopGroup, body: list[Any]) -> None:
        self.loop = LoopSpec(group_id=group.group_id, tasks=tuple(t.task_id for t in body), max_iterations=group.max_iterations)
        super().__init__(
            task_id=CONTROLLER_ID,
            python_callable=group.repeat_until,
            op_args=[{t.task_id: XComArg(t) for t in body}],
            dag=group.dag,
            # a branch inside the group may skip some of its tasks; a failure still ends the loop
            trigger_rule=TriggerRule.NONE_FAILED,
            doc=f"decides whether loop group {group.group_id} runs again (at most {group.max_iterations} iterations)",
        )

    def to_spec(self) -> TaskSpec:
        return super().to_spec().model_copy(update={"loop": self.loop})
