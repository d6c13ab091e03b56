"""Definitions (orchestrator.core.definitions): the lifecycle's decisions, the document's id, problems
by JSON path, and the difference between two versions' documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchestrator.core.definitions import (
    DefinitionStateError,
    DefinitionStatus,
    DocumentChange,
    Problem,
    VersionStatus,
    deprecate,
    diff_documents,
    document_id,
    json_path,
    publish,
    trigger_refusal,
    version_file_name,
    version_of_file,
)
from orchestrator.execution.loader import find_dag_files
from orchestrator.operations.definition_check import problems_in_this_process
from orchestrator.operations.definition_files import write_published

D, P, X = DefinitionStatus.DRAFT, DefinitionStatus.PUBLISHED, DefinitionStatus.DEPRECATED


# -- lifecycle -----------------------------------------------------------------------------------
def test_publishing_the_first_draft_makes_the_definition_published() -> None:
    change = publish("orders", D, None, 1, VersionStatus.DRAFT)
    assert (change.status, change.published_version, change.versions) == (P, 1, {1: VersionStatus.PUBLISHED})


def test_publishing_a_newer_draft_supersedes_the_published_version() -> None:
    change = publish("orders", P, 1, 2, VersionStatus.DRAFT)
    assert change.versions == {2: VersionStatus.PUBLISHED, 1: VersionStatus.SUPERSEDED}


def test_publishing_a_draft_of_a_deprecated_definition_makes_it_run_again() -> None:
    change = publish("orders", X, None, 3, VersionStatus.DRAFT)
    assert (change.status, change.published_version) == (P, 3)


@pytest.mark.parametrize("status", [VersionStatus.PUBLISHED, VersionStatus.SUPERSEDED, VersionStatus.DEPRECATED])
def test_only_a_draft_can_be_published(status: VersionStatus) -> None:
    with pytest.raises(DefinitionStateError, match=f"version 1 of definition 'orders' is {status.value}, not a draft"):
        publish("orders", P, 1, 1, status)


def test_a_superseded_version_is_published_again_through_a_restore() -> None:
    with pytest.raises(DefinitionStateError, match="definitions restore orders 1"):
        publish("orders", P, 2, 1, VersionStatus.SUPERSEDED)


def test_deprecating_a_published_definition_deprecates_its_published_version() -> None:
    change = deprecate("orders", P, 2)
    assert (change.status, change.published_version, change.versions) == (X, None, {2: VersionStatus.DEPRECATED})


@pytest.mark.parametrize(("status", "why"), [(D, "never published"), (X, "deprecated already")])
def test_only_a_published_definition_can_be_deprecated(status: DefinitionStatus, why: str) -> None:
    with pytest.raises(DefinitionStateError, match=why):
        deprecate("orders", status, None)


def test_a_trigger_of_a_deprecated_definition_is_refused_saying_so_even_before_the_scheduler_unloads_it() -> None:
    for loaded, version in ((False, None), (True, 2)):
        why = trigger_refusal("orders", X, None, loaded=loaded, loaded_version=version)
        assert why is not None and "is deprecated: it takes no new runs (runs already going finish)" in why


def test_a_trigger_of_a_draft_says_only_published_versions_run() -> None:
    assert "only published versions run" in (trigger_refusal("orders", D, None, loaded=False, loaded_version=None) or "")


def test_a_trigger_before_the_scheduler_loaded_the_published_version_says_to_wait() -> None:
    for loaded, version in ((False, None), (True, 1)):
        assert "the scheduler has not loaded it yet" in (trigger_refusal("orders", P, 2, loaded=loaded, loaded_version=version) or "")


def test_a_trigger_of_the_loaded_published_version_is_allowed() -> None:
    assert trigger_refusal("orders", P, 2, loaded=True, loaded_version=2) is None


def test_a_dag_file_of_the_folder_is_not_the_definitions_to_refuse() -> None:
    assert trigger_refusal("orders", D, None, loaded=True, loaded_version=None) is None


# -- the document's id ---------------------------------------------------------------------------
def test_a_new_definition_is_named_by_the_documents_workflow_id() -> None:
    assert document_id({"workflowId": "orders"}) == ("orders", [])


def test_a_new_definition_needs_a_workflow_id() -> None:
    assert document_id({"steps": []}) == (None, [Problem("$.workflowId", "required: the definition's id, which is the DAG id it runs as")])


def test_an_update_without_workflow_id_takes_the_definitions_id() -> None:
    assert document_id({"steps": []}, "orders") == ("orders", [])


def test_an_update_cannot_change_the_id() -> None:
    named, problems = document_id({"workflowId": "other"}, "orders")
    assert named is None and problems[0].path == "$.workflowId" and "the id cannot change" in problems[0].message


# -- problems by JSON path -----------------------------------------------------------------------
@pytest.mark.parametrize(("path", "expected"), [("", "$"), ("steps[2].retryPolicy.delay", "$.steps[2].retryPolicy.delay"), ("[0]", "$[0]")])
def test_a_field_path_becomes_a_json_path(path: str, expected: str) -> None:
    assert json_path(path) == expected


def test_every_problem_of_a_document_is_reported_at_its_json_path() -> None:
    document = {
        "workflowId": "orders",
        "steps": [
            {"stepId": "a", "taskId": "shell", "input": {"command": "true"}},
            {"stepId": "b", "taskId": "shell", "input": {"command": "true"}, "colour": "red"},
            {"stepId": "c", "taskId": "shell", "input": {"command": "true"}, "retryPolicy": {"maxAttempts": 2, "delay": "PT5X"}},
        ],
    }
    assert [p.path for p in problems_in_this_process(document)] == ["$.steps[1].colour", "$.steps[2].retryPolicy.delay"]


def test_a_step_leading_to_a_missing_step_is_reported_at_its_edge() -> None:
    document = {"workflowId": "orders", "steps": [{"stepId": "a", "taskId": "shell", "input": {"command": "true"}, "next": [{"stepId": "z"}]}]}
    [problem] = problems_in_this_process(document)
    assert problem.path == "$.steps[0].next[0]" and "no step 'z'" in problem.message


def test_a_valid_document_has_no_problem() -> None:
    assert problems_in_this_process({"workflowId": "orders", "steps": [{"stepId": "a", "taskId": "shell", "input": {"command": "true"}}]}) == []


# -- differences ---------------------------------------------------------------------------------
def test_a_changed_value_is_named_by_its_json_path() -> None:
    old = {"steps": [{"stepId": "a", "retryPolicy": {"delay": "PT5M"}}]}
    new = {"steps": [{"stepId": "a", "retryPolicy": {"delay": "PT1M"}}]}
    assert diff_documents(old, new) == [DocumentChange("$.steps[0].retryPolicy.delay", "PT5M", "PT1M")]


def test_added_and_removed_fields_and_items_have_no_old_or_no_new_value() -> None:
    old = {"name": "x", "steps": [{"stepId": "a"}]}
    new = {"tags": ["t"], "steps": [{"stepId": "a"}, {"stepId": "b"}]}
    assert diff_documents(old, new) == [
        DocumentChange("$.name", "x", None), DocumentChange("$.steps[1]", None, {"stepId": "b"}), DocumentChange("$.tags", None, ["t"]),
    ]


def test_equal_documents_have_no_difference() -> None:
    assert diff_documents({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2}]}) == []


# -- the published file in the DAG folder ------------------------------------------------------------
def test_the_folder_sync_finds_only_the_published_version_of_a_definition(tmp_path: Path) -> None:
    write_published(tmp_path, "orders", 1, {"workflowId": "orders"})
    write_published(tmp_path, "orders", 2, {"workflowId": "orders"})
    assert [Path(f.path).name for f in find_dag_files(tmp_path)] == ["v2.json"]
    assert (tmp_path / "_definitions" / "orders" / "v1.json").exists()  # runs of version 1 still read it


def test_a_deprecated_definition_has_no_file_the_folder_sync_finds(tmp_path: Path) -> None:
    write_published(tmp_path, "orders", 1, {"workflowId": "orders"})
    write_published(tmp_path, "orders", None, None)
    assert find_dag_files(tmp_path) == []


def test_a_published_version_file_is_never_rewritten(tmp_path: Path) -> None:
    path = write_published(tmp_path, "orders", 1, {"workflowId": "orders", "name": "first"})
    write_published(tmp_path, "orders", 1, {"workflowId": "orders", "name": "second"})
    assert path is not None and '"first"' in path.read_text()


def test_a_published_file_names_its_version() -> None:
    assert version_of_file(f"/dags/_definitions/orders/{version_file_name(12)}") == 12
    assert (version_of_file("/dags/orders.json"), version_of_file("/dags/etl/v1.json")) == (None, None)
