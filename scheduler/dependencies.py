"""Holding back runs whose `depends_on` are not met: the I/O around `orchestrator.core.dependencies.decide`.

For a queued or waiting run, `admit` reads the facts of the upstream runs that could meet each
dependency, asks the pure decision, and applies it in the caller's batch: the run may start, or
it moves to (stays) `waiting` with the reason, or it fails once it waited past a timeout.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from orchestrator.core.dependencies import Decision, DependencySpec, Met, TimedOut, UpstreamRun, Wait, WaitingRun, decide, past_reason
from orchestrator.core.spec import DagSpec
from orchestrator.core.states import RunState
from orchestrator.store.models import Dag, DagRun, TaskInstance
from orchestrator.store.runs import Batch, RunKey

_LATEST_CANDIDATES = 10  # the newest upstream runs read for mode "latest" (ties on the newest end)


def upstream_runs(session: Session, dep: DependencySpec, run: WaitingRun) -> list[UpstreamRun] | None:
    """The runs of `dep.dag_id` that could meet `dep` for `run`; None when that DAG does not exist."""
    dag = session.get(Dag, dep.dag_id)
    if dag is None or not dag.is_active:
        return None
    end = run.data_interval_end or run.logical_date
    columns = [DagRun.run_id, DagRun.logical_date, DagRun.data_interval_end, DagRun.state]
    if dep.task_id is not None:
        columns.append(TaskInstance.state.label("task_state"))
    stmt = select(*columns).where(DagRun.dag_id == dep.dag_id)
    if dep.task_id is not None:
        stmt = stmt.outerjoin(
            TaskInstance,
            and_(
                TaskInstance.dag_id == DagRun.dag_id, TaskInstance.run_id == DagRun.run_id,
                TaskInstance.task_id == dep.task_id, TaskInstance.map_index == -1,
            ),
        )
    if dep.mode == "same_interval":
        stmt = stmt.where(DagRun.logical_date == run.logical_date)
    elif dep.mode == "latest":
        stmt = stmt.where(DagRun.data_interval_end <= end).order_by(DagRun.data_interval_end.desc()).limit(_LATEST_CANDIDATES)
    else:
        assert dep.window_s is not None, "a window dependency has a window"
        stmt = stmt.where(DagRun.logical_date >= end - timedelta(seconds=dep.window_s), DagRun.logical_date < end)
    return [
        UpstreamRun(
            run_id=r.run_id, logical_date=r.logical_date, data_interval_end=r.data_interval_end, state=r.state,
            task_state=r.task_state if dep.task_id is not None else None,
        )
        for r in session.execute(stmt)
    ]


def _previous_states(session: Session, row: DagRun, task_ids: list[str]) -> tuple[str | None, dict[str, str | None]]:
    """The DAG's run before `row` (by logical date) and the states of `task_ids` in it."""
    previous = session.scalar(
        select(DagRun.run_id).where(DagRun.dag_id == row.dag_id, DagRun.logical_date < row.logical_date)
        .order_by(DagRun.logical_date.desc()).limit(1)
    )
    if previous is None:
        return None, {}
    found: dict[str, str | None] = {tid: state for tid, state in session.execute(
        select(TaskInstance.task_id, TaskInstance.state).where(
            TaskInstance.dag_id == row.dag_id, TaskInstance.run_id == previous, TaskInstance.task_id.in_(task_ids),
            TaskInstance.map_index == -1,
        )
    )}
    return previous, {tid: found.get(tid) for tid in task_ids}


def _with_past(decision: Decision, reason: str | None) -> Decision:
    """The dependencies' decision with the depends_on_past wait added (it never times out)."""
    if reason is None or isinstance(decision, TimedOut):
        return decision
    if isinstance(decision, Met):
        return Wait(reason)
    return Wait(f"{decision.reason}; {reason}")


def admit(session: Session, row: DagRun, spec: DagSpec, batch: Batch, now: datetime) -> RunState:
    """RUNNING when the queued or waiting run `row` may start now; else the state it is left in:
    WAITING (with the reason in `state_reason`) or FAILED (timed out, with the reason).

    A run that ran before (queued again by a clear) does not wait again.
    """
    past = [t.task_id for t in spec.tasks if t.depends_on_past]
    if (not spec.depends_on and not past) or row.start_date is not None:
        return RunState.RUNNING
    current = RunState(row.state)
    dates = WaitingRun(row.logical_date, row.data_interval_end)
    decision = decide([(dep, upstream_runs(session, dep, dates)) for dep in spec.depends_on], dates, row.waiting_since, now)
    if past:
        decision = _with_past(decision, past_reason(*_previous_states(session, row, past)))
    if isinstance(decision, Met):
        return RunState.RUNNING
    key = RunKey(row.dag_id, row.run_id)
    if isinstance(decision, TimedOut):
        batch.move_run(key, current, RunState.FAILED, now, reason=decision.reason, state_reason=decision.reason, end_date=now)
        return RunState.FAILED
    if current is RunState.QUEUED:
        batch.move_run(key, current, RunState.WAITING, now, reason=decision.reason, state_reason=decision.reason, waiting_since=now)
    elif decision.reason != row.state_reason:
        batch.update_run(key, current, state_reason=decision.reason)
    return RunState.WAITING
