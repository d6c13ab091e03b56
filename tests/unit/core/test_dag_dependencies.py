"""Dependencies between DAGs: `depends_on` authoring, the pure wait / start / time-out decision, cycles."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator import DAG, DagDependency, PythonTask
from orchestrator.core.dependencies import (
    DependencySpec,
    Met,
    TimedOut,
    UpstreamRun,
    Wait,
    WaitingRun,
    decide,
    find_cycles,
)
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.states import RUN_ACTIVE, RunState

D = datetime(2026, 11, 22, tzinfo=UTC)
DAY = timedelta(days=1)
RUN = WaitingRun(logical_date=D, data_interval_end=D + DAY)  # the daily run of 2026-11-22
NOW = datetime(2026, 11, 23, 1, tzinfo=UTC)


def noop() -> None:
    return None


def dep(**kw: object) -> DependencySpec:
    return DependencySpec(dag_id="etl", **kw)  # type: ignore[arg-type]


def upstream(run_id: str, logical_date: datetime, state: str = "success", *, end: datetime | None = None, task_state: str | None = None) -> UpstreamRun:
    return UpstreamRun(run_id, logical_date, end or logical_date + DAY, state, task_state)


def one(d: DependencySpec, runs: list[UpstreamRun] | None, *, since: datetime | None = None, now: datetime = NOW) -> object:
    return decide([(d, runs)], RUN, since, now)


# -- authoring ----------------------------------------------------------------------------------------
def test_depends_on_goes_into_the_spec_with_its_defaults() -> None:
    with DAG("report", depends_on=[DagDependency("etl")]) as dag:
        PythonTask(task_id="t", python_callable=noop)
    assert dag.to_spec().depends_on == (DependencySpec(dag_id="etl", task_id=None, mode="same_interval", timeout_s=6 * 3600.0),)


def test_a_window_dependency_keeps_its_window_and_timeout_in_seconds() -> None:
    d = DagDependency("etl", task_id="load", mode="window", window=timedelta(hours=12), timeout=90)
    with DAG("report", depends_on=[d]) as dag:
        PythonTask(task_id="t", python_callable=noop)
    assert dag.to_spec().depends_on[0] == DependencySpec(dag_id="etl", task_id="load", mode="window", timeout_s=90.0, window_s=43200.0)


@pytest.mark.parametrize(
    ("dependency", "message"),
    [
        (DagDependency("etl", mode="sometimes"), "mode 'sometimes' is not one of same_interval, latest, window"),
        (DagDependency("etl", mode="window"), "mode 'window' needs window=timedelta"),
        (DagDependency("etl", window=timedelta(hours=1)), "window is only for mode 'window'"),
        (DagDependency("etl", timeout=timedelta(0)), "timeout must be positive"),
        (DagDependency("etl", timeout="6h"), "timeout must be a timedelta or a number of seconds"),
        (DagDependency("bad id!"), "dag_id 'bad id!' is not a valid DAG id"),
        (DagDependency("etl", task_id=""), "task_id '' is not a valid task id"),
        (DagDependency("report"), "a DAG cannot depend on itself"),
        ("etl", "expected a DagDependency"),
    ],
)
def test_a_bad_dependency_is_a_definition_error_naming_the_dag(dependency: object, message: str) -> None:
    with pytest.raises(DagDefinitionError, match=r"^DAG 'report': depends_on\[0\]: ") as info:
        DAG("report", depends_on=[dependency])  # type: ignore[list-item]
    assert message in str(info.value)


def test_depends_on_must_be_a_list() -> None:
    with pytest.raises(DagDefinitionError, match="DAG 'report': depends_on must be a list of DagDependency"):
        DAG("report", depends_on=DagDependency("etl"))  # type: ignore[arg-type]


def test_a_dag_without_depends_on_keeps_the_version_hash_it_had_before() -> None:
    with DAG("plain", params={"a": 1}) as dag:
        PythonTask(task_id="t", python_callable=print, retries=1)
    dag.fileloc = "/dags/plain.py"
    assert dag.to_spec().version_hash == "d2a41b1f0a14a707"  # computed before depends_on existed


def test_adding_a_dependency_changes_the_version_hash() -> None:
    def build(depends_on: list[DagDependency]) -> str:
        with DAG("plain", depends_on=depends_on) as dag:
            PythonTask(task_id="t", python_callable=noop)
        return dag.to_spec().version_hash

    assert build([DagDependency("etl")]) != build([])


# -- same_interval --------------------------------------------------------------------------------
def test_same_interval_is_met_by_a_successful_upstream_run_of_the_same_logical_date() -> None:
    assert one(dep(), [upstream("scheduled__1122", D)]) == Met()


def test_same_interval_waits_naming_the_date_when_there_is_no_such_run() -> None:
    assert one(dep(), [upstream("scheduled__1121", D - DAY)]) == Wait(
        "waiting for etl run of 2026-11-22T00:00Z (same_interval) to succeed; no such run yet"
    )


def test_same_interval_waits_while_the_upstream_run_is_not_successful() -> None:
    decision = one(dep(), [upstream("scheduled__1122", D, "failed")])
    assert decision == Wait("waiting for etl run of 2026-11-22T00:00Z (same_interval) to succeed; scheduled__1122 is failed")


def test_with_a_task_id_the_task_must_have_succeeded_not_the_run() -> None:
    failed_run_task_ok = upstream("scheduled__1122", D, "failed", task_state="success")
    assert one(dep(task_id="load"), [failed_run_task_ok]) == Met()


def test_with_a_task_id_a_successful_run_is_not_enough_when_the_task_did_not_succeed() -> None:
    decision = one(dep(task_id="load"), [upstream("scheduled__1122", D, "running", task_state=None)])
    assert decision == Wait(
        "waiting for task load of etl run of 2026-11-22T00:00Z (same_interval) to succeed; scheduled__1122 is not started"
    )


# -- latest -------------------------------------------------------------------------------------------
def test_latest_is_met_when_the_newest_run_at_or_before_the_interval_end_succeeded() -> None:
    runs = [upstream("old", D - DAY, "failed"), upstream("newest", D), upstream("after", D + DAY, "failed")]
    assert one(dep(mode="latest"), runs) == Met()


def test_latest_waits_when_the_newest_run_failed_even_if_an_older_one_succeeded() -> None:
    decision = one(dep(mode="latest"), [upstream("old", D - DAY), upstream("newest", D, "failed")])
    assert decision == Wait("waiting for the latest etl run at or before 2026-11-23T00:00Z (latest) to succeed; newest is failed")


# -- window -------------------------------------------------------------------------------------------
def test_window_is_met_by_a_success_whose_logical_date_is_within_the_window_before_the_interval_end() -> None:
    inside = upstream("hourly__13", D + timedelta(hours=13), end=D + timedelta(hours=14))
    assert one(dep(mode="window", window_s=12 * 3600), [inside]) == Met()


def test_window_ignores_successes_before_the_window_and_at_its_end() -> None:
    before = upstream("hourly__11", D + timedelta(hours=11))
    at_end = upstream("next_day", D + DAY)
    decision = one(dep(mode="window", window_s=12 * 3600), [before, at_end])
    assert decision == Wait(
        "waiting for a etl run between 2026-11-22T12:00Z and 2026-11-23T00:00Z (window) to succeed; no such run yet"
    )


# -- unknown DAGs, several dependencies, timeouts ----------------------------------------------------
def test_a_dependency_on_a_dag_that_does_not_exist_waits_and_says_so() -> None:
    assert one(dep(), None) == Wait("waiting for DAG etl, which does not exist (yet)")


def test_every_unmet_dependency_is_in_the_reason() -> None:
    decision = decide([(dep(), None), (DependencySpec(dag_id="crm"), [])], RUN, None, NOW)
    assert decision == Wait(
        "waiting for DAG etl, which does not exist (yet); "
        "waiting for crm run of 2026-11-22T00:00Z (same_interval) to succeed; no such run yet"
    )


def test_a_run_that_has_not_waited_yet_does_not_time_out() -> None:
    assert isinstance(one(dep(timeout_s=1.0), [], since=None), Wait)


def test_a_run_still_waits_when_it_has_waited_exactly_its_timeout() -> None:
    assert isinstance(one(dep(timeout_s=3600.0), [], since=NOW - timedelta(hours=1)), Wait)


def test_a_run_past_its_timeout_times_out_with_the_reason() -> None:
    decision = one(dep(timeout_s=6 * 3600.0), [], since=NOW - timedelta(hours=6, seconds=1))
    assert decision == TimedOut("timed out after 6h: waiting for etl run of 2026-11-22T00:00Z (same_interval) to succeed; no such run yet")


def test_without_a_timeout_a_run_waits_for_ever() -> None:
    assert isinstance(one(dep(timeout_s=None), [], since=NOW - timedelta(days=365)), Wait)


def test_a_met_dependency_never_times_out() -> None:
    assert one(dep(timeout_s=1.0), [upstream("scheduled__1122", D)], since=NOW - DAY) == Met()


def test_a_waiting_run_counts_toward_max_active_runs() -> None:
    assert RunState.WAITING in RUN_ACTIVE


# -- cycles -------------------------------------------------------------------------------------------
def test_two_dags_depending_on_each_other_are_a_cycle_named_from_each_side() -> None:
    assert find_cycles({"etl": ["report"], "report": ["etl"]}) == {
        "etl": ["etl", "report", "etl"],
        "report": ["report", "etl", "report"],
    }


def test_a_longer_cycle_is_named_in_dependency_order() -> None:
    assert find_cycles({"a": ["b"], "b": ["c"], "c": ["a"]})["a"] == ["a", "b", "c", "a"]


def test_a_dag_that_depends_on_a_cycle_is_not_on_it() -> None:
    assert set(find_cycles({"a": ["b"], "b": ["a"], "downstream": ["a"]})) == {"a", "b"}


def test_a_chain_and_dependencies_on_unknown_dags_are_no_cycle() -> None:
    assert find_cycles({"a": ["b"], "b": ["c"], "c": ["ghost"]}) == {}
