"""Setup and teardown tasks, with Airflow's semantics.

- A teardown runs once its upstreams ended, failed or not, provided one of its setups succeeded
  (`orchestrator.core.states.evaluate_teardown`); so a cluster made by a setup is removed even when
  the work on it failed.
- A run's state ignores its teardowns' failures (`DagSpec.flow_leaves`), unless the teardown
  says `on_failure_fail_dagrun=True`.
- Clearing a task clears the setups it depends on and their teardowns too (`clear_scope`), so
  the work runs again with its resources set up again.

Authoring: `task.as_setup()`, `task.as_teardown(setups=...)`, the `@setup` / `@teardown`
decorators, and `with teardown_task(setup_task()):`, which puts the tasks made inside between
the setups and the teardown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from orchestrator.core.errors import DagDefinitionError

if TYPE_CHECKING:
    from orchestrator.authoring.tasks import BaseTask


def mark_setup(task: BaseTask) -> None:
    if task.setup_teardown == "teardown":
        raise DagDefinitionError(f"task {task.task_id!r} is a teardown: it cannot also be a setup")
    task.setup_teardown = "setup"


def mark_teardown(task: BaseTask, setups: Sequence[BaseTask], fail_dagrun: bool) -> None:
    if task.setup_teardown == "setup":
        raise DagDefinitionError(f"task {task.task_id!r} is a setup: it cannot also be a teardown")
    task.setup_teardown = "teardown"
    task.fail_dagrun = bool(fail_dagrun)
    for setup in setups:
        if setup.setup_teardown is None:
            setup.setup_teardown = "setup"
        elif setup.setup_teardown != "setup":
            raise DagDefinitionError(f"task {task.task_id!r}: {setup.task_id!r} is a teardown, not a setup")
        task.set_upstream(setup)


def _setups_of(task: BaseTask) -> list[BaseTask]:
    """A teardown's setups are its direct upstreams that are setups; a setup stands for itself."""
    if task.setup_teardown == "setup":
        return [task]
    assert task.dag is not None
    return [task.dag.tasks[u] for u in task.upstream_ids if task.dag.tasks[u].setup_teardown == "setup"]


def enter_scope(task: BaseTask) -> None:
    if task.setup_teardown is None:
        raise DagDefinitionError(f"`with {task.task_id}:` needs a setup or a teardown task")
    assert task.dag is not None
    task.dag._setup_scopes.append((task, set(task.dag.tasks)))


def exit_scope(task: BaseTask) -> None:
    """Link the tasks made inside the block: its roots after the setups, its leaves before the teardown."""
    assert task.dag is not None
    owner, before = task.dag._setup_scopes.pop()
    assert owner is task
    made = [t for tid, t in task.dag.tasks.items() if tid not in before]
    if not made:
        return
    inside = {t.task_id for t in made}
    roots = [t for t in made if not inside.intersection(t.upstream_ids)]
    feeding = {u for t in made for u in t.upstream_ids}
    leaves = [t for t in made if t.task_id not in feeding]
    for root in roots:
        for setup in _setups_of(task):
            root.set_upstream(setup)
    teardowns = [task] if task.setup_teardown == "teardown" else [
        t for t in task.dag.tasks.values() if t.setup_teardown == "teardown" and task.task_id in t.upstream_ids
    ]
    for leaf in leaves:
        for teardown in teardowns:
            if leaf is not teardown:
                teardown.set_upstream(leaf)


