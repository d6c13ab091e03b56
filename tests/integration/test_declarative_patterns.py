"""Workflow patterns written in YAML, through the real loader, store and scheduler (SQLite, tasks
in-process, an injected clock): foreach, minSuccess, a loop branch, compensate, idempotencyKey
and a sub-workflow step. The Python side of each is tested in its own module's tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.core.config import Config
from orchestrator.operations.folder_sync import sync_dag_folder
from orchestrator.store.models import TaskInstance

from .harness import make_config, trigger, upgraded_sessions, wait_for_run, write_dag
from .test_declarative_workflows import scheduler

STEPS_MODULE = '''
def collect(data):
    """A step that returns what it received from the step before it."""
    return data
'''


@pytest.fixture
def store(tmp_path: Path) -> tuple[Config, sessionmaker[Session]]:
    """An empty DAG folder (beside a helper module) and an upgraded SQLite database."""
    write_dag(tmp_path / "dags", "pattern_steps.py", STEPS_MODULE)
    url = f"sqlite:///{tmp_path / 'orchestrator.db'}"
    return make_config(tmp_path, url), upgraded_sessions(url)


def add_workflow(store: tuple[Config, sessionmaker[Session]], name: str, source: str) -> None:
    config, sessions = store
    write_dag(config.resolved_dags_folder, name, source)
    assert not sync_dag_folder(sessions, config).errors


def rows(sessions: sessionmaker[Session], dag_id: str, run_id: str) -> dict[tuple[str, int], TaskInstance]:
    """The run's task instances by (task_id, map_index): a mapped task's instances have 0, 1, ..."""
    with sessions() as s:
        found = s.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id, TaskInstance.run_id == run_id))
        return {(r.task_id, r.map_index): r for r in found}


def states(sessions: sessionmaker[Session], dag_id: str, run_id: str) -> dict[str, str]:
    return {tid: r.state for (tid, index), r in rows(sessions, dag_id, run_id).items() if index < 0}


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def test_a_foreach_step_runs_once_per_item_of_its_expression_and_the_next_step_gets_the_list(
    store: tuple[Config, sessionmaker[Session]],
) -> None:
    add_workflow(store, "squares.yaml", """
        workflowId: squares
        steps:
          - {stepId: count, taskId: 'tests.fixtures:numbers', input: {n: 4}, next: [{stepId: square}]}
          - stepId: square
            taskId: tests.fixtures:square
            foreach: {items: "data", as: x}
            next: [{stepId: gather}]
          - {stepId: gather, taskId: 'pattern_steps:collect'}
    """)
    _, sessions = store
    with scheduler(store):
        run_id = trigger(sessions, "squares")
        assert wait_for_run(sessions, "squares", run_id).state == "success"
    found = rows(sessions, "squares", run_id)
    assert [found["square", i].result for i in range(4)] == [1, 4, 9, 16]
    assert ("square", 4) not in found
    assert found["gather", -1].result == [1, 4, 9, 16]


def test_min_success_lets_a_join_run_when_enough_of_its_branches_succeeded(store: tuple[Config, sessionmaker[Session]]) -> None:
    add_workflow(store, "quorum.yaml", """
        workflowId: quorum
        steps:
          - stepId: vote
            parallelBranches:
              - {branchId: a, steps: [{stepId: yes_a, taskId: 'tests.fixtures:succeed'}]}
              - {branchId: b, steps: [{stepId: yes_b, taskId: 'tests.fixtures:succeed'}]}
              - {branchId: c, steps: [{stepId: no_c, taskId: 'tests.fixtures:always_fail'}]}
            next: [{stepId: majority}, {stepId: everyone}]
          - {stepId: majority, taskId: 'tests.fixtures:succeed', minSuccess: majority}
          - {stepId: everyone, taskId: 'tests.fixtures:succeed', minSuccess: all}
    """)
    _, sessions = store
    with scheduler(store):
        run_id = trigger(sessions, "quorum")
        wait_for_run(sessions, "quorum", run_id)
    found = states(sessions, "quorum", run_id)
    assert (found["c.no_c"], found["majority"], found["everyone"]) == ("failed", "success", "upstream_failed")


LOOP = """
    workflowId: reviews
    steps:
      - stepId: reviewing
        parallelBranches:
          - branchId: review
            loop: {{repeatUntil: "results.decide == 'approved'", maxIterations: {max_iterations}}}
            steps: [{{stepId: decide, taskId: 'tests.fixtures:review', input: {{path: '{path}', approve_on: {approve_on}}}}}]
        next: [{{stepId: publish}}]
      - {{stepId: publish, taskId: 'tests.fixtures:succeed'}}
"""


def test_a_loop_branch_repeats_until_its_expression_holds_then_the_next_step_runs(
    store: tuple[Config, sessionmaker[Session]], tmp_path: Path,
) -> None:
    record = tmp_path / "reviews.txt"
    add_workflow(store, "reviews.yaml", LOOP.format(path=record, approve_on=2, max_iterations=3))
    _, sessions = store
    with scheduler(store):
        run_id = trigger(sessions, "reviews")
        assert wait_for_run(sessions, "reviews", run_id).state == "success"
    assert len(lines(record)) == 2
    assert states(sessions, "reviews", run_id)["publish"] == "success"


def test_a_loop_branch_that_never_holds_fails_after_max_iterations(store: tuple[Config, sessionmaker[Session]], tmp_path: Path) -> None:
    record = tmp_path / "reviews.txt"
    add_workflow(store, "reviews.yaml", LOOP.format(path=record, approve_on=5, max_iterations=2))
    _, sessions = store
    with scheduler(store):
        run_id = trigger(sessions, "reviews")
        assert wait_for_run(sessions, "reviews", run_id).state == "failed"
    assert len(lines(record)) == 2
    found = states(sessions, "reviews", run_id)
    assert (found["review.repeat_until"], found["publish"]) == ("failed", "upstream_failed")


SAGA = """
    workflowId: saga
    steps:
      - {{stepId: charge, taskId: 'tests.fixtures:record_execution', input: {{path: '{path}'}}, compensate: refund, next: [{{stepId: ship}}]}}
      - {{stepId: ship, taskId: 'tests.fixtures:fail_when_asked'}}
      - {{stepId: refund, taskId: 'tests.fixtures:record_execution', input: {{path: '{path}'}}}}
"""


def test_a_compensate_step_undoes_its_step_when_the_run_fails(store: tuple[Config, sessionmaker[Session]], tmp_path: Path) -> None:
    record = tmp_path / "saga.txt"
    add_workflow(store, "saga.yaml", SAGA.format(path=record))
    _, sessions = store
    with scheduler(store):
        run_id = trigger(sessions, "saga", {"fail": True})
        assert wait_for_run(sessions, "saga", run_id).state == "failed"
    assert states(sessions, "saga", run_id) == {"charge": "success", "ship": "failed", "refund": "success"}
    assert lines(record) == [f"saga/{run_id}/charge", f"saga/{run_id}/refund"]


def test_a_compensate_step_is_skipped_when_the_run_succeeds(store: tuple[Config, sessionmaker[Session]], tmp_path: Path) -> None:
    record = tmp_path / "saga.txt"
    add_workflow(store, "saga.yaml", SAGA.format(path=record))
    _, sessions = store
    with scheduler(store):
        run_id = trigger(sessions, "saga")
        assert wait_for_run(sessions, "saga", run_id).state == "success"
    assert states(sessions, "saga", run_id) == {"charge": "success", "ship": "success", "refund": "skipped"}
    assert lines(record) == [f"saga/{run_id}/charge"]


def test_a_step_with_an_idempotency_key_runs_once_per_key_across_runs(store: tuple[Config, sessionmaker[Session]], tmp_path: Path) -> None:
    record = tmp_path / "charges.txt"
    add_workflow(store, "charges.yaml", f"""
        workflowId: charges
        steps:
          - stepId: charge
            taskId: tests.fixtures:charge_order
            input: {{path: '{record}'}}
            idempotencyKey: "charge-{{{{ params.order_id }}}}"
    """)
    _, sessions = store
    with scheduler(store):
        first = trigger(sessions, "charges", {"order_id": "o-1"})
        assert wait_for_run(sessions, "charges", first).state == "success"
        second = trigger(sessions, "charges", {"order_id": "o-1"})
        assert wait_for_run(sessions, "charges", second).state == "success"
    assert lines(record) == [f"charges/{first}/charge"]
    assert rows(sessions, "charges", second)["charge", -1].result == {"charge_id": "ch_o-1"}


def test_a_sub_workflow_step_runs_another_workflow_with_input_and_output_mapping(store: tuple[Config, sessionmaker[Session]]) -> None:
    add_workflow(store, "pricing.yaml", """
        workflowId: pricing
        steps: [{stepId: quote, taskId: 'tests.fixtures:quote_price'}]
    """)
    add_workflow(store, "checkout.yaml", """
        workflowId: checkout
        steps:
          - stepId: price
            taskId: sub_dag
            input: {dag_id: pricing, input: {sku: "{{ params.sku }}", qty: 2}, output: {amount: quote.amount}}
            next: [{stepId: bill}]
          - {stepId: bill, taskId: 'pattern_steps:collect'}
    """)
    _, sessions = store
    with scheduler(store):
        run_id = trigger(sessions, "checkout", {"sku": "apple"})
        assert wait_for_run(sessions, "checkout", run_id).state == "success"
    bill = rows(sessions, "checkout", run_id)["bill", -1].result
    assert (bill["dag_id"], bill["state"], bill["output"]) == ("pricing", "success", {"amount": 5.0})
