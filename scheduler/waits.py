"""ApprovalTask, WaitForEvent and deferrable sensors in the scheduler: register what each waits
for, settle it when done.

The tracker starts such a try without a worker (`RunTracker._start_wait`). On each poll,
`WaitBook.poll` (in the poll's transaction):

1. registers the tries started since the last poll (an approval request, or an event wait that
   only events stored from then on can match, a deferrable sensor's trigger given to the
   scheduler's event loop, scheduler/triggerer.py) and moves their tasks to `waiting`;
2. loads what the store says about the waiting tasks this scheduler took over (a restart, a run
   reloaded after a user's action), to know their deadlines;
3. settles the tasks whose request was decided (by users, through the API or the CLI) or whose
   event matched (store.event_waits.match, in the pass that matches the outside events), or
   whose trigger fired or timed out;
4. applies what fell due by the scheduler's clock: escalation steps, timeouts.

Its cost does not grow with the number of waiting tasks: two indexed queries for what was decided
or matched, and a heap of deadlines in memory.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from orchestrator.core.approval_escalation import next_due
from orchestrator.core.approvals import ApprovalSpec, Cast, Outcome, failure, result
from orchestrator.core.event_waits import TIMEOUT_ERROR_TYPE, EventWaitSpec
from orchestrator.core.sensors import TriggerWaitSpec, describe_trigger, timed_out
from orchestrator.core.states import TaskState
from orchestrator.execution.async_triggers import TriggerContext
from orchestrator.store import approvals as approval_store
from orchestrator.store import event_waits as wait_store
from orchestrator.store.models import ApprovalRequest, EventWait
from orchestrator.store.runs import Batch, RunKey
from scheduler.tracker import RunTracker
from scheduler.triggerer import Triggerer, WatchKey

APPROVAL = "approval"
EVENT = "event"


@dataclass(order=True, frozen=True)
class _Due:
    at: datetime
    seq: int
    kind: str = field(compare=False)
    row_id: int = field(compare=False)
    run: RunKey = field(compare=False)
    task_id: str = field(compare=False)
    try_number: int = field(compare=False)


class WaitBook:
    """The deadlines of the waiting tasks this scheduler drives, and the poll pass that settles them."""

    def __init__(self, triggerer: Triggerer) -> None:
        self.triggerer = triggerer  # deferrable sensors: their triggers, awaited in the scheduler's event loop
        self._due: list[_Due] = []
        # (kind, row id) -> its deadline now: a heap entry for any other time is stale (a run
        # reloaded after a user's action is loaded again, and pushes its deadline again)
        self._current: dict[tuple[str, int], datetime] = {}
        self._seq = itertools.count()

    def poll(self, session: Session, tracker: RunTracker, batch: Batch, now: datetime) -> None:
        """Register, load, settle and time out, in that order (see the module's docstring)."""
        self._register(session, tracker, batch, now)
        self._adopt(session, tracker)
        self._settle_decided(session, tracker, batch, now)
        self._settle_matched(session, tracker, batch, now)
        self._settle_fired(tracker, batch, now)
        self._fire_due(session, tracker, batch, now)

    # -- 1, 2: what each try waits for ---------------------------------------------------------------
    def _register(self, session: Session, tracker: RunTracker, batch: Batch, now: datetime) -> None:
        requests, waits = [], []
        for key, tid in tracker.take_started_waits():
            run = tracker.runs[key]
            view, wait = run.tasks[tid], run.spec.task_map[tid].wait
            if view.state is not TaskState.RUNNING:
                continue
            if isinstance(wait, ApprovalSpec):
                requests.append(approval_store.NewRequest(key.dag_id, key.run_id, tid, view.try_number, wait))
            elif isinstance(wait, EventWaitSpec):
                waits.append(wait_store.NewWait(key.dag_id, key.run_id, tid, view.try_number, wait, run.params))
            elif isinstance(wait, TriggerWaitSpec):
                self._watch(tracker, key, tid, wait, now)
                tracker.begin_waiting(key, tid, describe_trigger(wait), batch, now)
        for row in approval_store.open_requests(session, requests, now):
            spec = approval_store.spec_of(row)
            batch.events.append(approval_store.requested_event(row))
            who = ", ".join(spec.approvers)
            tracker.begin_waiting(RunKey(row.dag_id, row.run_id), row.task_id, f"waiting for approval by {who} ({spec.min_approvals} needed)", batch, now)
            self._approval_due(row, spec)
        for wait_row in wait_store.register(session, waits, now):
            where = f" where {wait_row.match}" if wait_row.match else ""
            tracker.begin_waiting(RunKey(wait_row.dag_id, wait_row.run_id), wait_row.task_id, f"waiting for event {wait_row.type}{where}", batch, now)
            self._event_due(wait_row)

    def _adopt(self, session: Session, tracker: RunTracker) -> None:
        adopted = []
        for key, tid in tracker.take_adopted_waits():
            run = tracker.runs[key]
            wait, view = run.spec.task_map[tid].wait, run.tasks[tid]
            if isinstance(wait, TriggerWaitSpec):  # its trigger is awaited again, its timeout still from the start
                self._watch(tracker, key, tid, wait, view.start_date or datetime.now(UTC))
            else:
                adopted.append((key.dag_id, key.run_id, tid, view.try_number))
        if not adopted:
            return
        for row in approval_store.of_tasks(session, adopted):
            self._approval_due(row, approval_store.spec_of(row))
        for wait_row in wait_store.of_tasks(session, adopted):
            self._event_due(wait_row)

    def _approval_due(self, row: ApprovalRequest, spec: ApprovalSpec) -> None:
        self._push(next_due(spec, row.requested_at, row.escalations_applied), APPROVAL, row.id, row.dag_id, row.run_id, row.task_id, row.try_number)

    def _event_due(self, row: EventWait) -> None:
        self._push(row.timeout_at, EVENT, row.id, row.dag_id, row.run_id, row.task_id, row.try_number)

    def _push(self, at: datetime | None, kind: str, row_id: int, dag_id: str, run_id: str, task_id: str, try_number: int) -> None:
        if at is not None and self._current.get((kind, row_id)) != at:
            self._current[(kind, row_id)] = at
            heapq.heappush(self._due, _Due(at, next(self._seq), kind, row_id, RunKey(dag_id, run_id), task_id, try_number))

    # -- 3: decided and matched -------------------------------------------------------------------------
    def _settle_decided(self, session: Session, tracker: RunTracker, batch: Batch, now: datetime) -> None:
        stale = []
        for settled in approval_store.decided(session):
            row = settled.row
            if not settled.task_waits:
                stale.append(row.id)  # cancelled (or cleared) meanwhile: nobody waits for the decision
            elif _drives(tracker, row.dag_id, row.run_id, row.task_id, row.try_number):
                _settle_approval(tracker, row, settled.decisions, batch, now)
                stale.append(row.id)
            # else: another scheduler drives that run and settles it
        approval_store.close(session, stale)

    def _settle_matched(self, session: Session, tracker: RunTracker, batch: Batch, now: datetime) -> None:
        done = []
        for m in wait_store.matched(session):
            w, e = m.wait, m.event
            if not m.task_waits:
                done.append(w.id)
            elif _drives(tracker, w.dag_id, w.run_id, w.task_id, w.try_number):
                tracker.settle_wait(RunKey(w.dag_id, w.run_id), w.task_id, batch, now, result=e.payload, error=None, error_type=None,
                                    log=f"event {e.id} ({e.type}) matched\n")
                done.append(w.id)
        wait_store.close(session, done)

    def _watch(self, tracker: RunTracker, key: RunKey, task_id: str, wait: TriggerWaitSpec, started: datetime) -> None:
        run, view = tracker.runs[key], tracker.runs[key].tasks[task_id]
        context = TriggerContext(
            key.dag_id, key.run_id, task_id, started, logical_date=run.logical_date, data_interval_end=run.data_interval_end,
            connection=lambda conn_id: tracker.resolve_connection(conn_id) if tracker.resolve_connection else None,
        )
        self.triggerer.watch(WatchKey(key, task_id, view.try_number), wait, context, started + timedelta(seconds=wait.timeout_s))

    def _settle_fired(self, tracker: RunTracker, batch: Batch, now: datetime) -> None:
        """Deferred sensors whose trigger fired, timed out or broke; watches nobody waits for any more stop."""
        for fired in self.triggerer.take_fired():
            key = fired.key
            if not _drives(tracker, key.run.dag_id, key.run.run_id, key.task_id, key.try_number):
                continue  # cancelled or cleared meanwhile, or another scheduler drives the run now
            ended = max(now, fired.at)  # it may have fired after this pass read the clock: never end before it fired
            wait = tracker.runs[key.run].spec.task_map[key.task_id].wait
            assert isinstance(wait, TriggerWaitSpec)
            if fired.timed_out:
                view = tracker.runs[key.run].tasks[key.task_id]
                waited = (ended - view.start_date).total_seconds() if view.start_date else wait.timeout_s
                verdict = timed_out(None, round(waited, 3), wait.timeout_s, wait.soft_fail)
                tracker.settle_wait(key.run, key.task_id, batch, ended, result=None, error=verdict.error, error_type=verdict.error_type,
                                    log=verdict.reason + "\n", skipped=verdict.state is TaskState.SKIPPED)
            elif fired.error is not None:
                tracker.settle_wait(key.run, key.task_id, batch, ended, result=None, error=fired.error, error_type="TriggerError",
                                    log=fired.error + "\n")
            else:
                tracker.settle_wait(key.run, key.task_id, batch, ended, result=fired.payload, error=None, error_type=None,
                                    log=f"trigger {wait.trigger} fired\n")
        for stale in self.triggerer.watched():
            if not _drives(tracker, stale.run.dag_id, stale.run.run_id, stale.task_id, stale.try_number):
                self.triggerer.cancel(stale)

    # -- 4: escalations and timeouts ---------------------------------------------------------------------
    def _fire_due(self, session: Session, tracker: RunTracker, batch: Batch, now: datetime) -> None:
        closed = []
        while self._due and self._due[0].at <= now:
            due = heapq.heappop(self._due)
            if self._current.get((due.kind, due.row_id)) != due.at:
                continue
            del self._current[(due.kind, due.row_id)]
            if not _drives(tracker, due.run.dag_id, due.run.run_id, due.task_id, due.try_number):
                continue  # settled, cancelled or cleared since
            if due.kind == APPROVAL:
                got = approval_store.escalate_request(session, due.row_id, now)
                if got is None:
                    continue  # decided meanwhile: the next poll settles it
                row, done, appended = got
                batch.events.extend(appended)
                if done.outcome is not None:
                    _settle_approval(tracker, row, approval_store.decisions_of(session, [row.id])[row.id], batch, now)
                    closed.append(row.id)
                else:
                    self._approval_due(row, approval_store.spec_of(row))
            else:
                wait_row = wait_store.time_out(session, due.row_id)
                if wait_row is None:
                    continue  # an event matched first: settled with it
                assert wait_row.timeout_at is not None  # only waits with a timeout have a deadline
                waited = timedelta(seconds=round((wait_row.timeout_at - wait_row.started_at).total_seconds()))
                error = f"no {wait_row.type} event" + (f" where {wait_row.match}" if wait_row.match else "") + f" came within {waited} (the timeout)"
                tracker.settle_wait(due.run, due.task_id, batch, now, result=None, error=error, error_type=TIMEOUT_ERROR_TYPE, log=error + "\n")
                wait_store.close(session, [wait_row.id])
        approval_store.close(session, closed)


def _drives(tracker: RunTracker, dag_id: str, run_id: str, task_id: str, try_number: int) -> bool:
    """Whether this scheduler drives that try, and it still waits."""
    key = RunKey(dag_id, run_id)
    if (key, task_id) not in tracker.waiting:
        return False
    view = tracker.runs[key].tasks[task_id]
    return view.state is TaskState.WAITING and view.try_number == try_number


def _settle_approval(tracker: RunTracker, row: ApprovalRequest, decisions: list[Cast], batch: Batch, now: datetime) -> None:
    outcome = Outcome(row.outcome)
    reason = row.outcome_reason or outcome.value
    error_type = failure(approval_store.spec_of(row), outcome)
    log = "".join(f"{c.at.isoformat()} {c.by}: {c.decision.value}" + (f" ({c.comment})" if c.comment else "") + "\n" for c in decisions)
    tracker.settle_wait(RunKey(row.dag_id, row.run_id), row.task_id, batch, now, result=result(outcome, reason, decisions, row.id),
                        error=None if error_type is None else reason, error_type=error_type, log=log + reason + "\n")
