"""SubDagTask through the real scheduler loop (SQLite, tasks in-process, an injected clock): the
child's conf from the input mapping, the output picked from its results, and what a failed child does."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from orchestrator.execution.executor import InProcessExecutor
from orchestrator.store.models import DagRun

from .harness import SchedulerThread, make_config, task_rows, tries_of, trigger, upgraded_sessions, wait_for_run, write_dag

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
DAGS = """
    from orchestrator import DAG, PythonTask, SubDagTask, XComArg
    from tests.fixtures import fail_once, quote_price, upstream_value

    with DAG("pricing"):
        PythonTask(task_id="quote", python_callable=quote_price)

    with DAG("flaky_pricing"):
        PythonTask(task_id="quote", python_callable=fail_once, op_args=[{marker!r}])

    with DAG("order", params={{"sku": "A-1"}}):
        qty = PythonTask(task_id="qty", python_callable=upstream_value, op_args=[3])
        price = SubDagTask(
            task_id="price", dag_id="pricing", input={{"sku": "{{{{ params.sku }}}}", "qty": XComArg(qty)}}, output={{"amount": "quote.amount"}},
        )
        price >> PythonTask(task_id="after", python_callable=upstream_value, op_args=[XComArg(price)["output"]])

    with DAG("order_fails"):
        SubDagTask(task_id="price", dag_id="pricing", input={{"fail": True}})

    with DAG("order_goes_on"):
        price = SubDagTask(task_id="price", dag_id="pricing", input={{"fail": True}}, on_child_failure="continue")
        price >> PythonTask(task_id="after", python_callable=upstream_value, op_args=[1])

    with DAG("order_retries"):
        SubDagTask(task_id="price", dag_id="flaky_pricing", on_child_failure="retry", retries=2, retry_delay=0)
"""


@dataclass
class Home:
    sessions: sessionmaker[Session]

    def run(self, dag_id: str) -> DagRun:
        return wait_for_run(self.sessions, dag_id, trigger(self.sessions, dag_id))

    def children(self, parent: DagRun) -> list[DagRun]:
        with self.sessions() as s:
            stmt = select(DagRun).where(DagRun.parent_dag_id == parent.dag_id, DagRun.parent_run_id == parent.run_id)
            return list(s.scalars(stmt.order_by(DagRun.run_id)))


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Home]:
    path = tmp_path_factory.mktemp("sub_workflows")
    write_dag(path / "dags", "orders.py", DAGS.format(marker=str(path / "failed_once")))
    url = f"sqlite:///{path / 'orchestrator.db'}"
    sessions = upgraded_sessions(url)
    with SchedulerThread(make_config(path, url), sessions, InProcessExecutor(), clock=lambda: NOW):
        yield Home(sessions)
    sessions.kw["bind"].dispose()


@pytest.fixture(scope="module")
def order(home: Home) -> DagRun:
    return home.run("order")


def test_the_input_mapping_becomes_the_child_runs_conf(home: Home, order: DagRun) -> None:
    [child] = home.children(order)
    assert (child.dag_id, child.conf, child.parent_task_id) == ("pricing", {"sku": "A-1", "qty": 3}, "price")


def test_the_output_mapping_picks_the_childs_results_into_the_task_result(home: Home, order: DagRun) -> None:
    [child] = home.children(order)
    rows = task_rows(home.sessions, "order", order.run_id)
    assert rows["price"].result == {"dag_id": "pricing", "run_id": child.run_id, "state": "success", "output": {"amount": 7.5}}
    assert (order.state, rows["after"].result) == ("success", {"amount": 7.5})


def test_a_failed_child_fails_the_parent_task_by_default(home: Home) -> None:
    run = home.run("order_fails")
    [child] = home.children(run)
    [price] = tries_of(home.sessions, "order_fails", run.run_id)
    assert (run.state, child.state, price.error) == ("failed", "failed", f"the sub-workflow run {child.run_id} of DAG pricing ended failed")


def test_continue_lets_the_parent_go_on_with_the_childs_failure_in_its_result(home: Home) -> None:
    run = home.run("order_goes_on")
    [child] = home.children(run)
    rows = task_rows(home.sessions, "order_goes_on", run.run_id)
    assert (run.state, rows["price"].state, rows["after"].state) == ("success", "success", "success")
    assert rows["price"].result == {"dag_id": "pricing", "run_id": child.run_id, "state": "failed", "output": {}}


def test_retry_starts_a_new_child_run_for_each_retry(home: Home) -> None:
    run = home.run("order_retries")
    assert (run.state, [c.state for c in home.children(run)]) == ("success", ["failed", "success"])
    assert [t.state for t in tries_of(home.sessions, "order_retries", run.run_id)] == ["failed", "success"]
