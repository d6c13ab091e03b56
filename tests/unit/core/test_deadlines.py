"""Deadlines and run timeouts as pure decisions: when they fall due, which entries are late, and
how a DAG, a task and a workflow file declare them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from orchestrator import DAG, Deadline, PythonTask
from orchestrator.airflow import DAG as AirflowDAG
from orchestrator.core.deadlines import Due, DueList, Watch, due_at, late
from orchestrator.core.errors import DagDefinitionError
from orchestrator.declarative.compiler import build_dag
from orchestrator.declarative.workflow import WorkflowFileError, parse_workflow

LOGICAL = datetime(2026, 1, 1, tzinfo=UTC)
START = datetime(2026, 1, 1, 6, tzinfo=UTC)


def _noop() -> None:
    return None


def test_a_deadline_after_the_logical_date_falls_that_long_after_it() -> None:
    spec = Deadline(after=timedelta(hours=2), reference="logical_date").spec
    assert due_at(spec, LOGICAL, START) == LOGICAL + timedelta(hours=2)


def test_a_deadline_after_the_run_start_falls_that_long_after_the_start() -> None:
    assert due_at(Deadline(after=90).spec, LOGICAL, START) == START + timedelta(seconds=90)


def test_a_run_start_deadline_of_a_run_not_started_has_no_time_yet() -> None:
    assert due_at(Deadline(after=90).spec, LOGICAL, None) is None


def test_the_due_list_gives_only_what_fell_due_earliest_first() -> None:
    due: DueList = DueList()
    due.push(START + timedelta(minutes=5), "later")
    due.push(START + timedelta(minutes=1), "sooner")
    due.push(START + timedelta(hours=1), "not yet")
    assert [d.item for d in due.take_due(START + timedelta(minutes=10))] == ["sooner", "later"]
    assert due.next_due() == START + timedelta(hours=1)
    assert due.take_due(START + timedelta(minutes=10)) == []


def test_of_the_entries_due_only_the_unfinished_ones_are_late() -> None:
    done, running, gone = Watch("d", "r1", "deadline"), Watch("d", "r2", "deadline", "t"), Watch("d", "r3", "deadline")
    finished = {done: True, running: False, gone: None}
    entries = [Due(START, w) for w in (done, running, gone)]
    assert late(entries, finished.__getitem__) == [Due(START, running)]


@pytest.mark.parametrize("after", [0, -5, timedelta(0), "1h", True])
def test_a_deadline_needs_a_positive_duration(after: object) -> None:
    with pytest.raises(DagDefinitionError, match="after must be a positive"):
        Deadline(after=after)  # type: ignore[arg-type]


def test_a_deadline_names_the_references_it_accepts() -> None:
    with pytest.raises(DagDefinitionError, match="'logical_date' or 'run_start'"):
        Deadline(after=5, reference="queued")


def test_a_dag_and_its_task_carry_their_deadlines_timeout_and_callback_into_the_spec() -> None:
    with DAG("d", dagrun_timeout=timedelta(hours=1), deadline=Deadline(after=timedelta(minutes=30)), on_deadline_miss=_noop) as d:
        PythonTask(task_id="t", python_callable=_noop, deadline=Deadline(after=60, reference="logical_date"), on_deadline_miss=_noop)
    spec = d.to_spec()
    assert (spec.dagrun_timeout_s, spec.deadline.after_s, spec.deadline.reference) == (3600.0, 1800.0, "run_start")
    assert spec.on_deadline_miss_callback is not None and spec.on_deadline_miss_callback.endswith(":_noop")
    assert spec.tasks[0].deadline.reference == "logical_date" and spec.tasks[0].on_deadline_miss is not None


def test_a_dagrun_timeout_must_be_positive() -> None:
    with pytest.raises(DagDefinitionError, match="dagrun_timeout must be a positive"):
        DAG("d", dagrun_timeout=timedelta(0))


def test_the_airflow_dag_takes_dagrun_timeout() -> None:
    with AirflowDAG("af", dagrun_timeout=timedelta(minutes=45)) as d:
        pass
    assert d.to_spec().dagrun_timeout_s == 2700.0
    assert "dagrun_timeout" not in d.ignored_airflow_args


def test_a_workflow_file_declares_a_timeout_and_deadlines() -> None:
    workflow = parse_workflow({
        "workflowId": "w", "dagrunTimeout": "PT2H",
        "deadline": {"after": "PT30M", "reference": "logical_date", "notify": [{"channel": "webhook", "url": "http://h/late"}]},
        "steps": [{"stepId": "a", "taskId": "shell", "input": {"command": "true"}, "deadline": {"after": "PT5M"}}],
    })
    spec = build_dag(workflow).to_spec()
    assert spec.dagrun_timeout_s == 7200.0
    assert (spec.deadline.after_s, spec.deadline.notify[0].url) == (1800.0, "http://h/late")
    assert spec.tasks[0].deadline.after_s == 300.0


def test_a_workflow_deadline_with_an_unknown_reference_names_its_path() -> None:
    with pytest.raises(WorkflowFileError, match="deadline.reference"):
        parse_workflow({"workflowId": "w", "deadline": {"after": "PT1M", "reference": "soon"}, "steps": [{"stepId": "a", "taskId": "shell"}]})
