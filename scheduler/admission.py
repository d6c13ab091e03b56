"""Admission: whether a task ready to run may go now, or is held back (and looked at again later).

A task goes if its DAG is under `max_active_tasks`, its pool has a free slot and its circuit
breaker lets a call through. The counts in flight are kept by scheduler/flights.py; breakers
and pool slots are the store's, as last read (`load`). Held tasks are remembered by run, to be
planned again when capacity may have come back (a try ends, the store's breakers or pools
change, a breaker's cool-down ends).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

from orchestrator.core import circuit
from orchestrator.core.circuit import Breaker, BreakerPolicy, breaker_key
from orchestrator.core.config import Config
from orchestrator.core.outcomes import BreakerCall
from orchestrator.core.planner import Admit, Hold
from orchestrator.core.states import TaskState
from orchestrator.store.circuits import change_event
from orchestrator.store.runs import Batch, RunKey
from scheduler.flights import FlightBook

log = logging.getLogger(__name__)

Loads = tuple[Counter[str], Counter[str]]
"""Tasks in flight by pool and by DAG, as one plan pass counts them."""


class Admission:
    """Circuit breakers, pool slots and `max_active_tasks` for the runs one scheduler drives."""

    def __init__(self, config: Config, flights: FlightBook, connection_extra: Callable[[str], dict[str, Any] | None]) -> None:
        self.config = config
        self.flights = flights
        self.connection_extra = connection_extra  # a connection's `extra`, for its `circuit_*` thresholds
        self.breakers: dict[str, Breaker] = {}
        self.pools: dict[str, int] = {}
        self._policies: dict[str, BreakerPolicy] = {}
        self.held: dict[RunKey, set[str]] = {}
        self.held_instances: dict[RunKey, dict[str, set[int]]] = {}
        self._waiting_on: set[str] = set()  # breakers that hold tasks: their cool-down ends wake the loop

    def load(self, breakers: dict[str, Breaker], pools: dict[str, int]) -> None:
        """Take the store's breakers and pools (other schedulers and users change them)."""
        self.breakers = breakers
        self.pools = pools
        self._policies.clear()  # connections may have changed their thresholds

    def forget(self, key: RunKey) -> None:
        self.held.pop(key, None)
        self.held_instances.pop(key, None)

    def take_held(self, key: RunKey) -> tuple[set[str], dict[str, set[int]]]:
        """The run's held tasks and mapped instances, to plan again (they are held again if need be)."""
        return self.held.pop(key, set()), self.held_instances.pop(key, {})

    def wake(self) -> dict[RunKey, set[str]]:
        """The held tasks to look at again; a breaker cool-down with nobody held never wakes the loop."""
        self._waiting_on.clear()  # re-filled by the tasks held again
        return self.held

    def policy(self, key: str) -> BreakerPolicy:
        """The thresholds of breaker `key`: config defaults, then the connection's `circuit_*` extras."""
        cached = self._policies.get(key)
        if cached is not None:
            return cached
        c = self.config
        base = BreakerPolicy(
            failure_threshold=c.circuit_failure_threshold, failure_rate=c.circuit_failure_rate,
            window_s=c.circuit_window_s, min_calls=c.circuit_min_calls, cooldown_s=c.circuit_cooldown_s,
        )
        extra = None
        if not key.startswith("step:"):
            try:
                extra = self.connection_extra(key)
            except Exception:  # noqa: BLE001 - an unreadable connection keeps the defaults
                log.exception("cannot read connection %s for its breaker thresholds", key)
        self._policies[key] = policy = base.with_extras(extra)
        return policy

    def breaker_key(self, task: Any) -> str | None:
        """The task's breaker, or None for step types without one (plain Python code, trigger tasks)."""
        if task.trigger is not None or task.wait is not None:
            return None  # the scheduler itself runs it: there is no outside system to protect
        if not task.conn_id and task.step_type in self.config.circuit_exempt_step_types:
            return None
        return breaker_key(task)

    def _put(self, breaker: Breaker, change: circuit.Change | None, batch: Batch, at: datetime) -> None:
        if self.breakers.get(breaker.key) == breaker and change is None:
            return
        self.breakers[breaker.key] = breaker
        batch.circuits[breaker.key] = breaker
        batch.circuits_at = at
        if change is not None:
            log.info("circuit %s: %s -> %s (%s)", change.key, change.from_state, change.to_state, change.reason)
            batch.events.append(change_event(change, at))

    def call(self, task: Any, run: RunKey, task_id: str, call: BreakerCall, batch: Batch) -> None:
        """Tell the task's breaker how a try went: a call that succeeded or failed, or none made
        (a probe it was let through for is released)."""
        key = self.breaker_key(task)
        if key is None:
            return
        who = f"{run.dag_id}/{run.run_id}/{task_id}"
        if call.succeeded is None:
            if key in self.breakers:
                self._put(circuit.release_probe(self.breakers[key], who), None, batch, call.at)
            return
        breaker, change = circuit.record(self.breakers.get(key, Breaker(key)), self.policy(key), call.succeeded, call.at, who)
        self._put(breaker, change, batch, call.at)

    def next_reopen(self) -> datetime | None:
        """When the first breaker holding tasks lets a probe through, if any holds tasks."""
        times = [
            t for k in self._waiting_on if (b := self.breakers.get(k)) is not None and (t := b.reopens_at(self.policy(k))) is not None
        ]
        return min(times, default=None)

    def loads(self) -> Loads:
        """Tasks in flight by pool and by DAG (queued or running, in this scheduler's runs): a
        copy of the kept counts, which this pass's admissions add to."""
        return Counter(self.flights.by_pool), Counter(self.flights.by_dag)

    def admit(self, key: RunKey, max_active_tasks: int | None, loads: Loads, batch: Batch, now: datetime) -> Admit:
        """The planner's `admit` for one run: DAG limit, pool slots, then the task's breaker.

        `loads` (tasks in flight by pool and by DAG) counts each task it admits.
        """
        by_pool, by_dag = loads
        limit = max_active_tasks
        dag_id = key.dag_id

        def admit(task: Any) -> tuple[TaskState, str] | None:
            if task.wait is not None:
                return None  # waiting holds no worker, so no slot of the DAG or a pool
            if limit is not None and by_dag[dag_id] >= limit:
                return TaskState.SCHEDULED, f"DAG {dag_id} has {by_dag[dag_id]} tasks in flight (max_active_tasks={limit})"
            if task.pool:
                slots = self.pools.get(task.pool)
                if slots is None:
                    return TaskState.SCHEDULED, f"there is no pool {task.pool!r}: create it with `orchestrator pools set {task.pool} SLOTS`"
                if by_pool[task.pool] >= slots:
                    return TaskState.SCHEDULED, f"pool {task.pool} is full ({by_pool[task.pool]} of {slots} slots in use)"
            breaker = self.breaker_key(task)
            if breaker is not None:
                who = f"{dag_id}/{key.run_id}/{task.task_id}"
                state, change, reason = circuit.admit(self.breakers.get(breaker, Breaker(breaker)), self.policy(breaker), now, who)
                self._put(state, change, batch, now)
                if reason is not None:
                    return TaskState.WAITING, reason
            by_dag[dag_id] += 1
            if task.pool:
                by_pool[task.pool] += 1
            return None

        return admit

    def hold(self, key: RunKey, command: Hold, task: Any) -> None:
        """Remember a task held back, to look at it again when capacity may be back."""
        self.held.setdefault(key, set()).add(command.task_id)
        if command.map_index >= 0:
            self.held_instances.setdefault(key, {}).setdefault(command.task_id, set()).add(command.map_index)
        if command.state is TaskState.WAITING:
            breaker = self.breaker_key(task)
            if breaker is not None:
                self._waiting_on.add(breaker)
