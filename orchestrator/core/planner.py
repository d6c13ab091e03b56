"""What to do next in a run: pure functions from task states to commands.

The scheduler keeps a `TaskView` per task of each active run. `plan_run` says which tasks to
submit (and which in-flight upstreams they can be chained to), which to settle as skipped or
upstream_failed, and whether the run is over. `settle_outcome` turns the end of a try into the
task's next state. Neither reads a clock or a database.

Decisions and conditional edges: a successful task whose `TaskView.follow` is a tuple of task
ids (None: follow all) is seen as *skipped* by each of its direct downstream tasks not listed
there, and as succeeded by those listed; trigger rules (or `min_success`) do the rest, so what
only the unfollowed tasks lead to is skipped too, and a join with `none_failed_min_one_success`
runs after whichever path was taken. `@task.branch` fills `follow` from the callable's return
value; anything else that decides edges (a declarative step's conditions) may fill it the same
way when it records the task's success. A task whose spec says `decides_downstream` is never
chained to, since what follows it is known only once it ended.

Mapped tasks (`TaskSpec.mapped`): once its upstreams allow it to run, the task is expanded
(`Expand`: its instances are made, it becomes running) and each instance is submitted on its
own (`Submit.map_index`); when every instance ended, `Gather` gives the task its final state and
its result (the instances' results in map_index order). An empty input skips it; an input that
is not a list, or longer than `orchestrator.core.mapping.MAX_MAP_LENGTH`, fails it.

Error transitions, compensation and loop-back (orchestrator.core.error_routing, orchestrator.core.compensation,
orchestrator.authoring.loops): a failed task whose `on_failure` is "continue" is seen as succeeded by its
downstream and by the run's outcome; one that is "stop" cancels every unfinished task; an error
handler runs only when a failure was routed to it (the failed task's result names it). Compensation
tasks stay outside the flow: once every other task ended, `_finish` skips them (the run succeeded)
or submits them one at a time, newest completed step first, before the run ends failed. A loop
controller's success either ends its loop or asks for the next iteration (`Settlement.repeat`).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from orchestrator.core.compensation import plan_compensation
from orchestrator.core.error_routing import handler_verdict, seen_as, stop_cause
from orchestrator.core.mapping import MappingError, gather_state, map_length
from orchestrator.core.spec import DagSpec, TaskSpec
from orchestrator.core.states import (
    TASK_DUE_AGAIN,
    TASK_TERMINAL,
    RunState,
    TaskState,
    TriggerRule,
    UpstreamSummary,
    Verdict,
    evaluate_min_success,
    evaluate_teardown,
    evaluate_trigger_rule,
    required_successes,
    run_outcome,
)


@dataclass(slots=True)
class TaskView:
    """The scheduler's copy of one task instance row."""

    state: TaskState = TaskState.PENDING
    try_number: int = 0
    max_tries: int = 1
    start_date: datetime | None = None
    end_date: datetime | None = None
    next_retry_at: datetime | None = None
    worker: str | None = None
    result: Any = None
    key: str | None = None
    history: list[str] = field(default_factory=list)
    follow: tuple[str, ...] | None = None
    """After a success: the direct downstream tasks to follow (None: all of them)."""
    instances: list[TaskView] = field(default_factory=list)
    """A mapped task's instances, by map_index (empty until it is expanded)."""


@dataclass(frozen=True)
class Submit:
    """Queue the task's next try; `after` are in-flight upstreams whose outcomes it waits for."""

    task_id: str
    after: tuple[str, ...] = ()
    reason: str | None = None
    map_index: int = -1


@dataclass(frozen=True)
class Settle:
    """The task will not run: it becomes `state` (skipped or upstream_failed; failed for a mapped
    task whose input cannot be mapped)."""

    task_id: str
    state: TaskState
    reason: str


@dataclass(frozen=True)
class FinishRun:
    state: RunState


@dataclass(frozen=True)
class Hold:
    """The task could run but must wait (an open circuit, a full pool): it becomes `state`
    (waiting or scheduled) with `reason`, and no try is used."""

    task_id: str
    state: TaskState
    reason: str
    map_index: int = -1


@dataclass(frozen=True)
class Expand:
    """Make the mapped task's `count` instances (map_index 0..count-1); the task becomes running.
    The instances' submits follow this command."""

    task_id: str
    count: int


@dataclass(frozen=True)
class Gather:
    """Every instance of the mapped task ended: the task becomes `state`, its result the list of theirs."""

    task_id: str
    state: TaskState
    reason: str


Command = Submit | Settle | FinishRun | Hold | Expand | Gather

Admit = Callable[[TaskSpec], tuple[TaskState, str] | None]
"""Asked for each task about to be submitted, highest priority first: None lets it go, else the
state to hold it in and why. The tracker's admission counts what it lets go (pool slots, probes)."""


def _chainable(spec: DagSpec, task: TaskSpec, state_of: Callable[[str], TaskState], submitted: set[str]) -> tuple[str, ...] | None:
    """The upstream whose try this task's try can continue on the same worker, if any.

    Only a linear step: the upstream is submitted in this same plan, this task is its only
    downstream, and every other upstream already succeeded. So chaining never takes parallelism
    away (a fan-out's tasks go out on their own once their upstream ended) and never waits on
    work already running elsewhere. Never for a task that must see its upstream's outcome first:
    a mapped one (its input), a wait strategy, or an upstream that decides its downstream or is mapped.
    """
    if task.trigger_rule is not TriggerRule.ALL_SUCCESS or task.min_success is not None or task.mapped or task.setup_teardown == "teardown":
        return None
    after = []
    for up in task.upstream:
        if state_of(up) is TaskState.SUCCESS:
            continue
        upstream = spec.task_map[up]
        if up not in submitted or spec.downstream[up] != (task.task_id,) or upstream.decides_downstream or upstream.mapped:
            return None
        after.append(up)
    return tuple(after) if len(after) == 1 else None


_RULE_WHY = {rule: f"trigger rule {rule.value}" for rule in TriggerRule}


def _verdict(
    spec: DagSpec, task: TaskSpec, tasks: Mapping[str, TaskView], state_of: Callable[[str], TaskState]
) -> tuple[Verdict, str]:
    """What the task's upstreams say (its wait strategy or trigger rule), and why, for a settle.

    An upstream whose `follow` leaves this task out counts as skipped on this edge.
    """
    unfollowed: list[str] = []

    def edge(up: str) -> TaskState:
        s = seen_as(spec, up, state_of(up))  # a failed upstream that continues counts as succeeded
        follow = tasks[up].follow
        if s is TaskState.SUCCESS and follow is not None and task.task_id not in follow:
            unfollowed.append(up)
            return TaskState.SKIPPED
        return s

    summary = UpstreamSummary.of(edge(u) for u in task.upstream)
    if task.setup_teardown == "teardown":
        setups = [u for u in task.upstream if spec.task_map[u].setup_teardown == "setup"]
        verdict = evaluate_teardown(summary, UpstreamSummary.of(state_of(u) for u in setups))
        why = "a teardown runs once its upstreams ended, if one of its setups succeeded"
    elif task.min_success is not None:
        required = required_successes(task.min_success, summary.total)
        verdict = evaluate_min_success(required, summary)
        why = f"fewer than {required} of its {summary.total} upstreams can succeed (min_success={task.min_success})"
    else:
        verdict = evaluate_trigger_rule(task.trigger_rule, summary)
        why = _RULE_WHY[task.trigger_rule]
    if unfollowed:
        why += f"; {', '.join(unfollowed)} did not follow it"
    return verdict, why


def _expand(task: TaskSpec, tasks: Mapping[str, TaskView], commands: list[Command]) -> TaskState:
    """Expand a mapped task whose upstreams allow it to run; returns its new state."""
    results = {s.task_id: _result_of(tasks[s.task_id]) for s in task.mapped if s.task_id is not None}
    try:
        count = map_length(task.mapped, results)
    except MappingError as exc:
        commands.append(Settle(task.task_id, TaskState.FAILED, str(exc)))
        return TaskState.FAILED
    if count == 0:
        commands.append(Settle(task.task_id, TaskState.SKIPPED, "mapped over an empty list: no instance to run"))
        return TaskState.SKIPPED
    commands.append(Expand(task.task_id, count))
    commands.extend(Submit(task.task_id, map_index=i) for i in range(count))
    return TaskState.RUNNING


def _result_of(view: TaskView) -> Any:
    """A task's result as its downstream sees it. A mapped upstream gathered in this same planning
    pass has no result on its view yet (the tracker applies `Gather` after the plan): it is the
    list of its instances' results, as `Gather` will record it."""
    if view.result is None and view.instances and view.state is not TaskState.PENDING:
        return [i.result for i in view.instances]
    return view.result


def _plan_instances(
    tid: str, view: TaskView, now: datetime, look: Iterable[int] | None, commands: list[Command]
) -> TaskState | None:
    """Submit the expanded task's instances that are ready (`look`: only those indexes); once all
    ended, gather them. Returns the task's new state, if it has one."""
    submitted = False
    for i in range(len(view.instances)) if look is None else sorted(look):
        instance = view.instances[i]
        if instance.state in TASK_DUE_AGAIN:
            if instance.next_retry_at is not None and instance.next_retry_at <= now:
                commands.append(Submit(tid, reason=_again(instance), map_index=i))
                submitted = True
        elif instance.state in (TaskState.PENDING, TaskState.SCHEDULED, TaskState.WAITING):
            commands.append(Submit(tid, map_index=i))
            submitted = True
    if submitted:
        return None
    state = gather_state(i.state for i in reversed(view.instances))
    if state is None:
        return None
    failed = sum(1 for i in view.instances if i.state is not TaskState.SUCCESS)
    why = f"{failed} of {len(view.instances)} mapped instances did not succeed" if failed else f"all {len(view.instances)} mapped instances succeeded"
    commands.append(Gather(tid, state, why))
    return state


def _again(view: TaskView) -> str:
    """Why a task that waited for its `next_retry_at` is submitted: a retry, or a sensor's next poke."""
    if view.state is TaskState.UP_FOR_RESCHEDULE:
        return "the sensor's next poke is due"
    return f"retry {view.try_number + 1} of {view.max_tries}"


def plan_run(
    spec: DagSpec,
    tasks: Mapping[str, TaskView],
    now: datetime,
    *,
    chains: bool,
    candidates: Iterable[str] | None = None,
    admit: Admit | None = None,
    instances: Mapping[str, Iterable[int]] | None = None,
) -> list[Command]:
    """Commands for one run. `candidates` limits the look to those tasks (None: all), and
    `instances` the look at an expanded candidate's instances to those map indexes (a mapped
    candidate not listed there has all its instances looked at).

    Decisions cascade within one call: a task settled as upstream_failed lets its downstream
    settle too, and with `chains` a whole ready linear chain is submitted at once (see `_chainable`). Tasks are looked at
    in topological order, so each is judged after every decision about its upstreams. The tasks
    to submit then go out highest `priority_weight` first, each past `admit` (see `admit_submits`).
    """
    decided: dict[str, TaskState] = {}
    submitted: set[str] = set()  # tasks (not mapped instances) submitted by this plan, to chain to

    def state_of(tid: str) -> TaskState:
        return decided.get(tid) or tasks[tid].state

    index = spec.topo_index
    heap = [(index[tid], tid) for tid in (spec.task_map if candidates is None else set(candidates))]
    heapq.heapify(heap)
    queued = {tid for _, tid in heap}
    commands: list[Command] = []
    stopper = stop_cause(spec, [tid for _, tid in heap], state_of)
    if stopper is not None:
        heap = []
        why = f"the run stopped: {stopper} failed (on_failure=stop)"
        for t in spec.tasks:
            if t.task_id not in spec.compensations and state_of(t.task_id) not in TASK_TERMINAL:
                commands.append(Settle(t.task_id, TaskState.CANCELLED, why))
                decided[t.task_id] = TaskState.CANCELLED
    while heap:
        _, tid = heapq.heappop(heap)
        if tid in spec.compensations:
            continue  # outside the flow: see orchestrator.core.compensation
        task = spec.task_map[tid]
        view = tasks[tid]
        state = state_of(tid)
        new: TaskState | None = None
        if state in TASK_DUE_AGAIN:
            if view.next_retry_at is not None and view.next_retry_at <= now:
                commands.append(Submit(tid, reason=_again(view)))
                submitted.add(tid)
                new = TaskState.QUEUED
        elif state is TaskState.RUNNING and task.mapped:
            new = _plan_instances(tid, view, now, None if instances is None else instances.get(tid), commands)
        elif state in (TaskState.PENDING, TaskState.SCHEDULED, TaskState.WAITING):
            if tid in spec.error_handlers:
                verdict, why = handler_verdict(spec, tid, tasks, state_of)
            else:
                verdict, why = _verdict(spec, task, tasks, state_of)
            if verdict is Verdict.RUN and task.mapped:
                new = _expand(task, tasks, commands)
            elif verdict is Verdict.RUN:
                commands.append(Submit(tid))
                submitted.add(tid)
                new = TaskState.QUEUED
            elif verdict is Verdict.SKIP:
                commands.append(Settle(tid, TaskState.SKIPPED, f"skipped: {why}"))
                new = TaskState.SKIPPED
            elif verdict is Verdict.UPSTREAM_FAILED:
                commands.append(Settle(tid, TaskState.UPSTREAM_FAILED, f"an upstream did not succeed ({why})"))
                new = TaskState.UPSTREAM_FAILED
            elif chains and task.upstream and tid not in spec.error_handlers:
                after = _chainable(spec, task, state_of, submitted)
                if after:
                    commands.append(Submit(tid, after=after))
                    submitted.add(tid)
                    new = TaskState.QUEUED
        if new is not None:
            decided[tid] = new
            for down in spec.downstream[tid]:
                if down not in queued:
                    queued.add(down)
                    heapq.heappush(heap, (index[down], down))
    # leaves come last in topological order: an unfinished run usually stops this at once
    if all(state_of(t.task_id) in TASK_TERMINAL for t in reversed(spec.tasks) if t.task_id not in spec.compensations):
        outcome = run_outcome(seen_as(spec, leaf, state_of(leaf)) for leaf in spec.flow_leaves)
        commands.extend(_finish(spec, tasks, state_of, outcome, now))
    return admit_submits(spec, commands, admit)


def _finish(
    spec: DagSpec, tasks: Mapping[str, TaskView], state_of: Callable[[str], TaskState], outcome: RunState, now: datetime
) -> list[Command]:
    """The run's flow ended as `outcome`: finish it, after compensating if it failed."""
    if not spec.compensations:
        return [FinishRun(outcome)]
    plan = plan_compensation(spec, tasks, state_of, outcome, now)
    done: list[Command] = [
        Settle(c, TaskState.SKIPPED, "nothing to compensate: " + (
            "the run succeeded" if outcome is RunState.SUCCESS else f"{spec.compensations[c]} did not succeed"
        ))
        for c in plan.skip
    ]
    if plan.run is not None:
        done.append(Submit(plan.run, reason=plan.reason))
    if plan.finished:
        done.append(FinishRun(outcome))
    return done


def admit_submits(spec: DagSpec, commands: list[Command], admit: Admit | None) -> list[Command]:
    """Order the submits by priority and pass each through `admit`.

    Unchained submits go first, highest `priority_weight` first (ties in DAG order); chained ones
    follow in DAG order, after the upstreams they wait for. A task held by `admit` becomes a
    `Hold`; a chained task whose upstream was held (or dropped) is dropped: it stays as it is
    and is looked at again when that upstream moves.
    """
    index = spec.topo_index
    submits = [c for c in commands if isinstance(c, Submit)]
    if not submits:
        return commands
    submits.sort(key=lambda c: (1, 0, index[c.task_id]) if c.after else (0, -spec.task_map[c.task_id].priority_weight, index[c.task_id]))
    decided: list[Command] = []
    stopped: set[str] = set()
    for c in submits:
        if any(up in stopped for up in c.after):
            stopped.add(c.task_id)
            continue
        verdict = admit(spec.task_map[c.task_id]) if admit is not None else None
        if verdict is None:
            decided.append(c)
        else:
            stopped.add(c.task_id)
            decided.append(Hold(c.task_id, verdict[0], verdict[1], c.map_index))
    # the other commands keep their places; the decided submits fill the submits' places in order
    it = iter(decided)
    out = [c if not isinstance(c, Submit) else next(it, None) for c in commands]
    return [c for c in out if c is not None] + list(it)


