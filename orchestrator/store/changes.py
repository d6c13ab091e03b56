"""The change cursor: how schedulers notice what others changed without re-reading every run.

Every commit that changes what a scheduler must act on (a run queued, cancelled, cleared or
adopted; a DAG paused or unpaused; an approval decided; an outside event or asset update stored)
calls `touch(session, runs)` in its transaction. When that transaction commits, a `before_commit`
hook, as its last statements, bumps the single row of `change_counter` and stamps the touched
`dag_run` rows with the new value (`dag_run.change_seq`). A scheduler keeps a cursor, the counter
value it last read, and reads only the runs stamped after it (`changed_runs`); when the counter
has not moved, it reads no run at all.

Why a cursor never skips a run that commits late (PostgreSQL, READ COMMITTED):

- The counter is one row updated in each writer's transaction, so its row lock serializes the
  writers: the writer that gets `seq = k` waited until the one with `k - 1` committed (or rolled
  back, in which case it got `k - 1` itself). Counter values therefore grow in commit order and
  have no gaps.
- A reader reads the counter (`upto`) first, then the runs stamped in `(cursor, upto]`. Seeing
  `upto` means its writer committed, hence every writer with a smaller value committed before
  it: the second statement (a newer snapshot) sees all their rows. Rows stamped above `upto`
  are left for the next read.
- The bump is the transaction's last lock: writers lock their rows, then the counter, then stamp
  rows they already hold. Every writer takes locks in that order, so the counter cannot close a
  deadlock cycle.

SQLite has one writer at a time, so the same reasoning holds trivially. Each scheduler keeps its
own cursor in memory; a restarted one reads every active run once, then follows the cursor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Row, bindparam, event, insert, select, update
from sqlalchemy.orm import Session, SessionTransaction

from orchestrator.store.models import ChangeCounter, DagRun

COUNTER_ID = 1
_PENDING = "orchestrator.changes.pending"  # session.info key: run keys to stamp at commit
ON_STAMP = "orchestrator.changes.on_stamp"
"""session.info key: a callable given the transaction's stamp just before it commits (a scheduler skips its own changes)."""

# what a scheduler needs of a changed run to decide whether to reload, forget, queue or drop it
RUN_COLUMNS = (
    DagRun.dag_id, DagRun.run_id, DagRun.state, DagRun.ext_change, DagRun.logical_date, DagRun.owner_job_id, DagRun.change_seq,
)


def touch(session: Session, runs: Iterable[tuple[str, str]] = ()) -> None:
    """Have this transaction's commit bump the change counter and stamp these runs (dag_id, run_id).

    With no runs, the commit still bumps the counter: the schedulers poll at once (a DAG unpaused,
    an approval decided, an outside event stored)."""
    session.info.setdefault(_PENDING, set()).update(runs)


def pending_runs(session: Session) -> set[tuple[str, str]]:
    """The runs this transaction touched so far (stamped when it commits)."""
    return set(session.info.get(_PENDING, ()))


def current(session: Session) -> int:
    """The counter's value: the stamp of the newest committed change."""
    return session.scalar(select(ChangeCounter.seq).where(ChangeCounter.id == COUNTER_ID)) or 0


def changed_runs(session: Session, after: int, upto: int, skip: int | None = None) -> list[Row[Any]]:
    """The runs stamped in (after, upto], but not `skip` (the reader's own commit): `RUN_COLUMNS`
    of each (an index range scan)."""
    if upto <= after:
        return []
    where = [DagRun.change_seq > after, DagRun.change_seq <= upto]
    if skip is not None and after < skip <= upto:
        where.append(DagRun.change_seq != skip)
    return list(session.execute(select(*RUN_COLUMNS).where(*where)).all())


def runs_by_key(session: Session, keys: Iterable[tuple[str, str]]) -> list[Row[Any]]:
    """`RUN_COLUMNS` of these runs (those that exist)."""
    wanted = set(keys)
    if not wanted:
        return []
    rows = session.execute(
        select(*RUN_COLUMNS).where(DagRun.dag_id.in_({d for d, _ in wanted}), DagRun.run_id.in_({r for _, r in wanted}))
    ).all()
    return [r for r in rows if (r.dag_id, r.run_id) in wanted]


def _bump(session: Session) -> int:
    stmt = update(ChangeCounter).where(ChangeCounter.id == COUNTER_ID).values(seq=ChangeCounter.seq + 1).returning(ChangeCounter.seq)
    seq = session.execute(stmt).scalar()
    if seq is None:  # a database made without the migrations' first row
        session.execute(insert(ChangeCounter).values(id=COUNTER_ID, seq=1))
        seq = 1
    return int(seq)


@event.listens_for(Session, "before_commit")
def _stamp(session: Session) -> None:
    runs = session.info.pop(_PENDING, None)
    if runs is None:
        return
    seq = _bump(session)
    on_stamp = session.info.pop(ON_STAMP, None)
    if on_stamp is not None:
        on_stamp(seq)
    if runs:
        table = DagRun.__table__
        stmt = update(table).where(table.c.dag_id == bindparam("k_dag_id"), table.c.run_id == bindparam("k_run_id")).values(change_seq=seq)
        session.execute(stmt, [{"k_dag_id": d, "k_run_id": r} for d, r in sorted(runs)])


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the outermost transaction ended (committed or rolled back)
        session.info.pop(_PENDING, None)
        session.info.pop(ON_STAMP, None)
