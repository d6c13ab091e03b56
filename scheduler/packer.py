"""Hands committed work to the executor in packs (orchestrator.execution.packing), and learns which tasks are tiny.

It owns the recent durations by kind of task and the probes: chained tries go with their
upstream's, tiny ones in batches, and those of a kind never seen end wait for a probe.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchestrator.execution.executor import Executor
from orchestrator.execution.packing import DurationBook, Probes, by_priority, make_packs
from orchestrator.execution.runtime import WorkItem
from orchestrator.store.runs import RunKey

TaskOf = Callable[[WorkItem], "tuple[RunKey, Any] | None"]
"""A work item's run and task spec; None for work of no tracked task (a DAG callback)."""


def kind_of(run: RunKey, task: Any) -> tuple[str, ...]:
    """What tells tasks with alike durations: the callable they run, else the task itself."""
    return (task.step_type, task.callable) if task.callable else (run.dag_id, task.task_id)


class Packer:
    """Packs work items and submits them; remembers how long each kind of task ran."""

    def __init__(self, executor: Executor, task_of: TaskOf) -> None:
        self.executor = executor
        self._task_of = task_of
        self.durations = DurationBook()
        self.probes = Probes()
        self._released: list[WorkItem] = []  # held for a probe that ended: submitted after the next plan

    def ran(self, run: RunKey, task: Any, busy_s: float) -> None:
        """A try of `task` ran its own code for `busy_s`."""
        self.durations.record(kind_of(run, task), busy_s)

    def ended(self, key: str) -> None:
        """The try of executor key `key` ended or was lost: items held for its kind go next time."""
        self._released.extend(self.probes.ended(key))

    def take_released(self) -> list[WorkItem]:
        """The items a probe that ended let go, to submit with the next plan's work."""
        released, self._released = self._released, []
        return released

    def submit(self, items: list[WorkItem]) -> None:
        """Submit committed work: higher-priority runs' first, past the probes, in packs."""
        if items:
            self._submit_packs(self.probes.admit(by_priority(items), self._unknown_kind, self.executor.slots))

    def cancel(self, key: str) -> None:
        """Stop an executor key's work (a held try is submitted first, to be cancelled as any other)."""
        self._submit_packs(self.probes.drop(key))
        self.executor.cancel(key)

    def _submit_packs(self, items: list[WorkItem]) -> None:
        for pack in make_packs(items, self._tiny, self.executor.slots):
            self.executor.submit(pack.items, tiny=pack.tiny)

    def _tiny(self, work: WorkItem) -> bool:
        found = self._task_of(work)
        return found is not None and self.durations.tiny(kind_of(*found), found[1].tiny)

    def _unknown_kind(self, work: WorkItem) -> tuple[str, ...] | None:
        found = self._task_of(work)
        if found is None or found[1].tiny is not None:
            return None
        kind = kind_of(*found)
        return None if self.durations.known(kind) else kind
