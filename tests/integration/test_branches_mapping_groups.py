"""Decisions, wait strategies, dynamic mapping and task groups through the real scheduler loop.

Tasks run in-process on SQLite (one scheduler per test); the mapping scenario also runs on the
shared Dask LocalCluster against SQLite and PostgreSQL, where downstream work could be chained.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.execution.dask_executor import DaskExecutor
from orchestrator.execution.executor import InProcessExecutor
from orchestrator.store import clearing as clearing_store
from orchestrator.store.models import TaskInstance, TaskTry

from .harness import SchedulerThread, events_of, make_config, trigger, upgraded_sessions, wait_for_run, write_dag

DAGS = """
    from orchestrator import DAG, PythonTask, TaskGroup, TriggerRule, task
    from tests.fixtures import (
        always_fail, choose_by_param, label, numbers, square, square_failing_on, square_flaky_on, succeed, total,
    )

    with DAG("branching") as branching:
        decide = task.branch(choose_by_param)()
        left = PythonTask(task_id="left", python_callable=succeed)
        right = PythonTask(task_id="right", python_callable=succeed)
        after_right = PythonTask(task_id="after_right", python_callable=succeed)
        join = PythonTask(task_id="join", python_callable=succeed, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        decide >> [left, right]
        right >> after_right
        [left, after_right] >> join

    with DAG("voting") as voting:
        ups = [PythonTask(task_id=name, python_callable=succeed) for name in ("a", "b")]
        ups.append(PythonTask(task_id="c", python_callable=always_fail))
        ups >> PythonTask(task_id="majority", python_callable=succeed, min_success="majority")
        ups >> PythonTask(task_id="everyone", python_callable=succeed, min_success="all")
        ups >> PythonTask(task_id="two", python_callable=succeed, min_success=2)

    with DAG("mapping") as mapping:
        task(total)(task(square).map(task(numbers)(4)))

    with DAG("mapping_empty") as mapping_empty:
        task(total)(task(square).map(task(numbers)(0)))

    with DAG("mapping_too_many") as mapping_too_many:
        task(square).map(task(numbers)(10_001))

    with DAG("mapping_cross") as mapping_cross:
        task(label).expand(letter=["a", "b"], number=task(numbers)(2))

    with DAG("mapping_retry") as mapping_retry:
        task(square_flaky_on, retries=1, retry_delay=0).partial(flaky=2).expand(x=task(numbers)(3))

    with DAG("mapping_fail") as mapping_fail:
        task(total)(task(square_failing_on).partial(bad=2).expand(x=task(numbers)(3)))

    with DAG("grouped") as grouped:
        start = PythonTask(task_id="start", python_callable=succeed)
        with TaskGroup("extract") as extract:
            fetch = PythonTask(task_id="fetch", python_callable=succeed)
            with TaskGroup("parse"):
                fetch >> PythonTask(task_id="rows", python_callable=succeed)
        start >> extract >> PythonTask(task_id="load", python_callable=succeed)
"""


@pytest.fixture
def store(tmp_path: Path) -> tuple[Config, sessionmaker[Session]]:
    write_dag(tmp_path / "dags", "patterns.py", DAGS)
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    return make_config(tmp_path, url), upgraded_sessions(url)


@pytest.fixture
def sessions(store: tuple[Config, sessionmaker[Session]]) -> Iterator[sessionmaker[Session]]:
    config, sessions = store
    with SchedulerThread(config, sessions, InProcessExecutor()):
        yield sessions


def run(sessions: sessionmaker[Session], dag_id: str, conf: dict | None = None) -> tuple[str, dict[str, TaskInstance]]:
    """Trigger a run, wait for it to end; its run_id and its tasks' own rows by task_id."""
    run_id = trigger(sessions, dag_id, conf)
    wait_for_run(sessions, dag_id, run_id)
    return run_id, task_rows_unmapped(sessions, dag_id, run_id)


def task_rows_unmapped(sessions: sessionmaker[Session], dag_id: str, run_id: str) -> dict[str, TaskInstance]:
    """The tasks' own rows (a mapped task's, not its instances'), by task_id."""
    return {row.task_id: row for row in instances(sessions, dag_id, run_id, map_index=-1)}


def instances(sessions: sessionmaker[Session], dag_id: str, run_id: str, *, map_index: int | None = None) -> list[TaskInstance]:
    """A run's task instance rows (only those of `map_index`, if given), by task and map_index."""
    stmt = select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id)
    if map_index is not None:
        stmt = stmt.where(TaskInstance.map_index == map_index)
    with sessions() as session:
        return list(session.scalars(stmt.order_by(TaskInstance.task_id, TaskInstance.map_index)))


def states(rows: dict[str, TaskInstance]) -> dict[str, str]:
    return {tid: row.state for tid, row in rows.items()}


def mapped_states(sessions: sessionmaker[Session], dag_id: str, run_id: str, task_id: str) -> list[str]:
    return [r.state for r in instances(sessions, dag_id, run_id) if r.task_id == task_id and r.map_index >= 0]


# -- decisions --------------------------------------------------------------------------------------


def test_a_branch_follows_the_task_it_returns_and_skips_the_other_path(sessions: sessionmaker[Session]) -> None:
    _, rows = run(sessions, "branching", {"follow": "left"})
    assert states(rows) == {
        "choose_by_param": "success", "left": "success", "right": "skipped", "after_right": "skipped", "join": "success",
    }


def test_a_branch_can_follow_the_other_path_to_the_same_join(sessions: sessionmaker[Session]) -> None:
    _, rows = run(sessions, "branching", {"follow": ["right"]})
    assert states(rows) == {
        "choose_by_param": "success", "left": "skipped", "right": "success", "after_right": "success", "join": "success",
    }


def test_a_branch_that_follows_nothing_skips_everything_after_it(sessions: sessionmaker[Session]) -> None:
    _, rows = run(sessions, "branching", {"follow": None})
    assert {tid: s for tid, s in states(rows).items() if tid != "choose_by_param"} == dict.fromkeys(
        ("left", "right", "after_right", "join"), "skipped"
    )


def test_a_branch_returning_an_unknown_task_fails_naming_the_choices(sessions: sessionmaker[Session]) -> None:
    run_id, rows = run(sessions, "branching", {"follow": "nowhere"})
    assert rows["choose_by_param"].state == "failed"
    with sessions() as session:
        error = session.scalars(select(TaskTry.error).where(TaskTry.run_id == run_id, TaskTry.task_id == "choose_by_param")).one()
    assert "returned 'nowhere', which is not one of its direct downstream tasks (left, right)" in error


def test_a_skip_by_a_branch_is_recorded_with_the_branch_as_the_reason(sessions: sessionmaker[Session]) -> None:
    run_id, _ = run(sessions, "branching", {"follow": "left"})
    skipped = [e for e in events_of(sessions, "branching", run_id) if e.task_id == "right" and e.to_state == "skipped"]
    assert len(skipped) == 1 and "choose_by_param did not follow it" in (skipped[0].reason or "")


# -- wait strategies --------------------------------------------------------------------------------


def test_wait_strategies_judge_how_many_upstreams_succeeded(sessions: sessionmaker[Session]) -> None:
    _, rows = run(sessions, "voting")
    assert {tid: rows[tid].state for tid in ("majority", "everyone", "two")} == {
        "majority": "success", "everyone": "upstream_failed", "two": "success",
    }


# -- dynamic mapping -------------------------------------------------------------------------------


def test_a_mapped_task_runs_once_per_item_and_the_downstream_gets_the_results_in_order(sessions: sessionmaker[Session]) -> None:
    run_id, rows = run(sessions, "mapping")
    mapped = [r for r in instances(sessions, "mapping", run_id) if r.task_id == "square" and r.map_index >= 0]
    assert [(r.map_index, r.state, r.result) for r in mapped] == [(0, "success", 1), (1, "success", 4), (2, "success", 9), (3, "success", 16)]
    assert (rows["square"].state, rows["square"].result, rows["total"].result) == ("success", [1, 4, 9, 16], 30)


def test_mapping_over_an_empty_list_skips_the_mapped_task_and_what_needs_it(sessions: sessionmaker[Session]) -> None:
    run_id, rows = run(sessions, "mapping_empty")
    assert (rows["square"].state, rows["total"].state) == ("skipped", "skipped")
    assert mapped_states(sessions, "mapping_empty", run_id, "square") == []


def test_mapping_over_more_than_ten_thousand_items_fails_the_task_with_the_limit(sessions: sessionmaker[Session]) -> None:
    run_id, rows = run(sessions, "mapping_too_many")
    assert rows["square"].state == "failed"
    failed = [e for e in events_of(sessions, "mapping_too_many", run_id) if e.task_id == "square" and e.to_state == "failed"]
    assert "10001 instances, over the limit of 10000" in (failed[0].reason or "")


def test_mapping_over_two_arguments_runs_every_combination(sessions: sessionmaker[Session]) -> None:
    _, rows = run(sessions, "mapping_cross")
    assert rows["label"].result == ["a1", "a2", "b1", "b2"]


def test_each_mapped_instance_is_retried_on_its_own(sessions: sessionmaker[Session]) -> None:
    run_id, rows = run(sessions, "mapping_retry")
    assert rows["square_flaky_on"].state == "success"
    with sessions() as session:
        tries = session.execute(
            select(TaskTry.map_index, TaskTry.try_number, TaskTry.state)
            .where(TaskTry.run_id == run_id, TaskTry.task_id == "square_flaky_on")
            .order_by(TaskTry.map_index, TaskTry.try_number)
        ).all()
    assert [tuple(t) for t in tries] == [(0, 1, "success"), (1, 1, "failed"), (1, 2, "success"), (2, 1, "success")]


def test_a_failed_instance_fails_the_mapped_task_once_the_others_ended(sessions: sessionmaker[Session]) -> None:
    run_id, rows = run(sessions, "mapping_fail")
    assert mapped_states(sessions, "mapping_fail", run_id, "square_failing_on") == ["success", "failed", "success"]
    assert (rows["square_failing_on"].state, rows["total"].state) == ("failed", "upstream_failed")


def test_clearing_a_mapped_task_runs_its_instances_again(store: tuple[Config, sessionmaker[Session]]) -> None:
    config, sessions = store
    with SchedulerThread(config, sessions, InProcessExecutor()):
        run_id, _ = run(sessions, "mapping")
        with sessions.begin() as session:
            clearing_store.clear_task(session, "mapping", run_id, "square", downstream=True, now=datetime.now(UTC), actor="test")
        wait_for_run(sessions, "mapping", run_id)
    with sessions() as session:
        tries = session.execute(
            select(TaskTry.map_index, TaskTry.try_number).where(TaskTry.run_id == run_id, TaskTry.task_id == "square")
        ).all()
    assert sorted(tuple(t) for t in tries) == [(i, n) for i in range(4) for n in (1, 2)]
    assert task_rows_unmapped(sessions, "mapping", run_id)["total"].result == 30


# -- task groups -----------------------------------------------------------------------------------


def test_tasks_in_groups_run_in_order_under_their_nested_ids(sessions: sessionmaker[Session]) -> None:
    run_id, rows = run(sessions, "grouped")
    assert states(rows) == dict.fromkeys(("start", "extract.fetch", "extract.parse.rows", "load"), "success")
    started = [e.task_id for e in events_of(sessions, "grouped", run_id) if e.task_id and e.to_state == "running"]
    assert started == ["start", "extract.fetch", "extract.parse.rows", "load"]


# -- on Dask, SQLite and PostgreSQL ------------------------------------------------------------------


def test_mapping_and_a_branch_on_dask(module_database_url: str, dask_address: str, tmp_path: Path) -> None:
    write_dag(tmp_path / "dags", "patterns.py", DAGS)
    config = make_config(tmp_path, module_database_url)
    sessions = upgraded_sessions(module_database_url)
    with SchedulerThread(config, sessions, DaskExecutor(dask_address)):
        _, mapped = run(sessions, "mapping")
        _, branched = run(sessions, "branching", {"follow": "left"})
    assert (mapped["square"].result, mapped["total"].result) == ([1, 4, 9, 16], 30)
    assert (branched["right"].state, branched["after_right"].state, branched["join"].state) == ("skipped", "skipped", "success")
