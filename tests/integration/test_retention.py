"""`orchestrator db clean` and the retention purge, on a real SQLite file and a real PostgreSQL:
exactly the old finished runs go, with their rows, and nothing else."""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import load_config
from orchestrator.operations.retention import POLICY_ACTOR, run_retention
from orchestrator.store import retention as store
from orchestrator.store.models import (
    ApprovalDecision,
    ApprovalRequest,
    AssetEvent,
    AuditLog,
    Dag,
    DagRun,
    Event,
    EventWait,
    ExternalEventRun,
    IdempotencyKey,
    TaskInstance,
    TaskTry,
)
from orchestrator.store.retention import Pacing, Selection

from .harness import cli_env, upgraded_sessions
from .test_connections_cli import run

# the runs here are made as rows, with no event history to replay
pytestmark = pytest.mark.rows_changed_behind_the_log

NOW = datetime.now(UTC)
OLD = NOW - timedelta(days=40)
RECENT = NOW - timedelta(days=2)
TABLES = [DagRun, TaskInstance, TaskTry, Event, ApprovalRequest, ApprovalDecision, EventWait, ExternalEventRun, AssetEvent, IdempotencyKey, AuditLog]
PER_RUN = {"dag_run": 1, "task_instance": 2, "task_try": 3, "event": 2, "approval_request": 1, "approval_decision": 1, "event_wait": 1, "external_event_run": 1}
"""Rows `add_run` writes per run in each table that a purge empties."""


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    sessions = upgraded_sessions(database_url)
    yield sessions
    sessions.kw["bind"].dispose()


def add_run(sessions: sessionmaker[Session], dag_id: str, run_id: str, state: str, ended: datetime | None) -> None:
    """A run with two tasks, three tries, events, an approval with a decision, an event wait, the
    outside event that started it, an asset event and an idempotency key."""
    started = (ended or NOW) - timedelta(minutes=5)
    with sessions.begin() as s:
        s.add(DagRun(dag_id=dag_id, run_id=run_id, state=state, run_type="manual", version_hash="v", logical_date=started,
                     queued_at=started, start_date=started, end_date=ended, conf={}))
        for task_id, tries in (("a", 1), ("b", 2)):
            s.add(TaskInstance(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=-1, state="success", try_number=tries))
            for n in range(1, tries + 1):
                s.add(TaskTry(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=-1, try_number=n, state="success", log="line\n"))
        s.add_all([Event(at=started, kind="run.started", dag_id=dag_id, run_id=run_id),
                   Event(at=started, kind="task.success", dag_id=dag_id, run_id=run_id, task_id="a")])
        request = ApprovalRequest(dag_id=dag_id, run_id=run_id, task_id="b", map_index=-1, try_number=1, spec={}, approvers=["ann"],
                                  requested_at=started, state="closed")
        s.add(request)
        s.flush()
        s.add(ApprovalDecision(request_id=request.id, at=started, username="ann", decision="approve"))
        s.add(EventWait(dag_id=dag_id, run_id=run_id, task_id="a", map_index=-1, try_number=1, type="t", is_glob=False, params={},
                        after_event_id=0, started_at=started, state="closed"))
        s.add(ExternalEventRun(event_pk=1, dag_id=dag_id, run_id=run_id))
        s.add(AssetEvent(uri=f"s3://x/{run_id}", at=started, source_dag_id=dag_id, source_run_id=run_id, source_task_id="a"))
        s.add(IdempotencyKey(key=f"{dag_id}/{run_id}", dag_id=dag_id, run_id=run_id, task_id="a", try_number=1, succeeded_at=started))


def add_audit(sessions: sessionmaker[Session], at: datetime) -> None:
    with sessions.begin() as s:
        s.add(AuditLog(at=at, actor="api:ann", action="dag.trigger", target="etl"))


def counts(sessions: sessionmaker[Session]) -> dict[str, int]:
    with sessions() as s:
        return {t.__tablename__: s.scalar(select(func.count()).select_from(t)) or 0 for t in TABLES}


def run_keys(sessions: sessionmaker[Session]) -> set[tuple[str, str]]:
    with sessions() as s:
        return {(d, r) for d, r in s.execute(select(DagRun.dag_id, DagRun.run_id))}


@pytest.fixture
def mixed(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    """Old finished runs of `etl` (success, failed, cancelled) and `report` (success); an old run
    still running and an old queued one; a recent finished run; two old and one recent audit row."""
    add_run(sessions, "etl", "old_ok", "success", OLD)
    add_run(sessions, "etl", "old_failed", "failed", OLD)
    add_run(sessions, "etl", "old_cancelled", "cancelled", OLD)
    add_run(sessions, "report", "old_ok", "success", OLD)
    add_run(sessions, "etl", "old_running", "running", None)
    add_run(sessions, "etl", "old_queued", "queued", None)
    add_run(sessions, "etl", "recent_ok", "success", RECENT)
    for at in (OLD, OLD, RECENT):
        add_audit(sessions, at)
    with sessions.begin() as s:
        for dag_id in ("etl", "report"):
            s.add(Dag(dag_id=dag_id, fileloc=f"{dag_id}.py", version_hash="v", spec={}))
    return sessions


def expected_after(before: dict[str, int], runs_gone: int, audit_gone: int = 0) -> dict[str, int]:
    after = dict(before)
    for table, per_run in PER_RUN.items():
        after[table] -= per_run * runs_gone
    after["audit_log"] -= audit_gone
    return after


def test_a_purge_removes_exactly_the_old_finished_runs_and_their_rows(mixed: sessionmaker[Session]) -> None:
    before = counts(mixed)
    report = store.purge(mixed, Selection(cutoff=NOW - timedelta(days=30)))
    assert counts(mixed) == expected_after(before, runs_gone=4)
    assert run_keys(mixed) == {("etl", "old_running"), ("etl", "old_queued"), ("etl", "recent_ok")}
    assert {t: n for t, n in report.rows.items()} == {t: 4 * n for t, n in PER_RUN.items()}


def test_running_and_queued_runs_keep_every_row_however_old(mixed: sessionmaker[Session]) -> None:
    store.purge(mixed, Selection(cutoff=NOW + timedelta(days=1)))
    assert run_keys(mixed) == {("etl", "old_running"), ("etl", "old_queued")}
    with mixed() as s:
        assert s.scalar(select(func.count()).select_from(TaskTry).where(TaskTry.run_id == "old_running")) == 3


def test_a_purge_of_one_dag_leaves_the_other_dags_runs(mixed: sessionmaker[Session]) -> None:
    store.purge(mixed, Selection(cutoff=NOW - timedelta(days=30), dag_ids=("report",)))
    assert ("report", "old_ok") not in run_keys(mixed)
    assert ("etl", "old_ok") in run_keys(mixed)


def test_the_dry_run_counts_what_a_purge_then_removes(mixed: sessionmaker[Session]) -> None:
    selection = Selection(cutoff=NOW - timedelta(days=30), include_audit=True)
    with mixed() as s:
        planned = store.count(s, selection)
    assert planned == {**{t: 4 * n for t, n in PER_RUN.items()}, "audit_log": 2}
    assert store.purge(mixed, selection).rows == planned


def test_a_purge_larger_than_one_chunk_takes_several_transactions(mixed: sessionmaker[Session]) -> None:
    for i in range(7):
        add_run(mixed, "etl", f"older_{i}", "success", OLD)
    before = counts(mixed)
    # a budget nothing meets keeps the chunk at one run
    report = store.purge(mixed, Selection(cutoff=NOW - timedelta(days=30)), pacing=Pacing(first=2, budget_s=0.0, pause_s=0.0))
    assert report.chunks == 11  # 11 runs: 2, then nine of 1, then the empty chunk that ends it
    assert counts(mixed) == expected_after(before, runs_gone=11)


def test_audit_rows_go_only_when_asked(mixed: sessionmaker[Session]) -> None:
    store.purge(mixed, Selection(cutoff=NOW - timedelta(days=30)))
    assert counts(mixed)["audit_log"] == 3
    store.purge(mixed, Selection(cutoff=NOW - timedelta(days=30), include_audit=True))
    assert counts(mixed)["audit_log"] == 1


def test_the_policy_cleans_once_a_day_with_per_dag_overrides(mixed: sessionmaker[Session], tmp_path: Path) -> None:
    config = load_config(home=tmp_path, retention_days=30, retention_dag_days={"report": 50})
    assert run_retention(mixed, config, NOW) is not None
    # etl's old finished runs went (30 days); report's is 40 days old, under its own 50
    assert run_keys(mixed) == {("etl", "old_running"), ("etl", "old_queued"), ("etl", "recent_ok"), ("report", "old_ok")}
    with mixed() as s:
        assert s.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.actor == POLICY_ACTOR)) == 2
    assert run_retention(mixed, config, NOW + timedelta(hours=23)) is None
    assert run_retention(mixed, config, NOW + timedelta(days=1)) is not None


# -- the CLI ----------------------------------------------------------------------------------------


@pytest.fixture
def cli(database_url: str, tmp_path: Path, mixed: sessionmaker[Session]) -> dict[str, str]:
    return cli_env(tmp_path, database_url=database_url)


def test_cli_clean_deletes_and_audits_as_the_os_user(cli: dict[str, str], mixed: sessionmaker[Session]) -> None:
    before = counts(mixed)
    result = run(["db", "clean", "--older-than", "30d", "--json"], cli)
    assert result.returncode == 0, result.stderr
    assert {r["table"]: r["rows"] for r in json.loads(result.stdout)} == {t: 4 * n for t, n in PER_RUN.items()}
    after = counts(mixed)
    assert after == {**expected_after(before, runs_gone=4), "audit_log": before["audit_log"] + 1}
    with mixed() as s:
        entry = s.scalars(select(AuditLog).where(AuditLog.action == "db.clean")).one()
    assert entry.actor == f"cli:{getpass.getuser()}" and entry.target == "*"
    assert entry.details is not None and entry.details["deleted"]["dag_run"] == 4


def test_cli_dry_run_prints_per_table_and_deletes_nothing(cli: dict[str, str], mixed: sessionmaker[Session]) -> None:
    before = counts(mixed)
    result = run(["db", "clean", "--older-than", "30d", "--dag", "etl", "--dry-run"], cli)
    assert result.returncode == 0, result.stderr
    assert "would delete" in result.stdout
    lines = dict(line.split() for line in result.stdout.splitlines()[3:])
    assert lines == {t: str(3 * n) for t, n in PER_RUN.items()}
    assert counts(mixed) == before


def test_cli_include_audit_removes_old_audit_rows(cli: dict[str, str], mixed: sessionmaker[Session]) -> None:
    assert run(["db", "clean", "--older-than", "30d", "--include-audit"], cli).returncode == 0
    with mixed() as s:
        assert [a.action for a in s.scalars(select(AuditLog).order_by(AuditLog.id))] == ["dag.trigger", "db.clean"]


@pytest.mark.parametrize("age", ["30", "30x", "d", "-5d", "0m", "thirty days"])
def test_cli_refuses_a_bad_age(cli: dict[str, str], mixed: sessionmaker[Session], age: str) -> None:
    before = counts(mixed)
    result = run(["db", "clean", "--older-than", age], cli)
    assert result.returncode == 2
    assert "Invalid value for --older-than" in result.stderr
    assert "30d, 12h or 90m" in result.stderr or "greater than zero" in result.stderr
    assert counts(mixed) == before


def test_cli_refuses_an_unknown_dag(cli: dict[str, str], mixed: sessionmaker[Session]) -> None:
    result = run(["db", "clean", "--older-than", "30d", "--dag", "etl", "--dag", "nope"], cli)
    assert result.returncode == 2
    assert "no DAG named 'nope'" in result.stderr
    assert ("etl", "old_ok") in run_keys(mixed)


def test_cli_refuses_audit_purge_for_one_dag(cli: dict[str, str], mixed: sessionmaker[Session]) -> None:
    result = run(["db", "clean", "--older-than", "30d", "--dag", "etl", "--include-audit"], cli)
    assert result.returncode == 2
    assert "cannot be combined with --dag" in result.stderr


def test_the_retention_thread_applies_the_policy_until_stopped(mixed: sessionmaker[Session], tmp_path: Path) -> None:
    import threading

    from orchestrator.operations.retention import RetentionThread

    stopping = threading.Event()
    thread = RetentionThread(mixed, load_config(home=tmp_path, retention_days=30), stopping, lambda: datetime.now(UTC), check_interval_s=0.05)
    thread.start()
    try:
        for _ in range(200):
            if ("etl", "old_ok") not in run_keys(mixed):
                break
            stopping.wait(0.05)
    finally:
        stopping.set()
        thread.join(10)
    assert not thread.is_alive()
    assert run_keys(mixed) == {("etl", "old_running"), ("etl", "old_queued"), ("etl", "recent_ok")}


# -- a DAG's own retention, and `db clean --policy` --------------------------------------------------------
def _declare(sessions: sessionmaker[Session], dag_id: str, seconds: float) -> None:
    with sessions.begin() as s:
        s.get(Dag, dag_id).spec = {"log_retention_s": seconds}  # type: ignore[union-attr]


def test_the_policy_applies_a_dag_s_declared_retention(mixed: sessionmaker[Session], tmp_path: Path) -> None:
    _declare(mixed, "report", 86400.0 * 10)
    assert run_retention(mixed, load_config(home=tmp_path), NOW) is not None
    # report's run is 40 days old, over its own 10; etl declares nothing and no retention_days is set
    assert ("report", "old_ok") not in run_keys(mixed) and ("etl", "old_ok") in run_keys(mixed)


def test_cli_clean_policy_dry_run_then_clean_by_each_dag_s_retention(cli: dict[str, str], mixed: sessionmaker[Session]) -> None:
    _declare(mixed, "report", 86400.0 * 10)
    env = {**cli, "ORCH_RETENTION_DAG_DAYS": '{"etl": 35}'}
    dry = run(["db", "clean", "--policy", "--dry-run", "--json"], env)
    assert dry.returncode == 0, dry.stderr
    assert [(p["dag_ids"], p["rows"]["dag_run"]) for p in json.loads(dry.stdout)] == [(["etl"], 3), (["report"], 1)]
    assert len(run_keys(mixed)) == 7
    done = run(["db", "clean", "--policy"], env)
    assert done.returncode == 0, done.stderr
    assert "deleted for report (finished before" in done.stdout
    assert run_keys(mixed) == {("etl", "old_running"), ("etl", "old_queued"), ("etl", "recent_ok")}


def test_cli_clean_policy_refuses_an_age_and_says_when_there_is_no_policy(cli: dict[str, str], mixed: sessionmaker[Session]) -> None:
    both = run(["db", "clean", "--policy", "--older-than", "30d"], cli)
    assert both.returncode == 2 and "--policy takes each DAG's age from the policy" in both.stderr
    none = run(["db", "clean", "--policy"], cli)
    assert none.returncode == 2 and "no retention policy" in none.stderr
    neither = run(["db", "clean"], cli)
    assert neither.returncode == 2 and "give --older-than AGE" in neither.stderr
