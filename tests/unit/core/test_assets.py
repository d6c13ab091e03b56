"""Assets: authoring (outlets, asset schedules), the due decision (all / any / cursors), labels and references."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import pytest

from orchestrator import DAG, AnyOf, Asset, DagSpec, EventTrigger, PythonTask, TaskSpec
from orchestrator.core.assets import URI_PATTERN, AssetCondition, asset_references, due_updates, schedule_label
from orchestrator.core.errors import DagDefinitionError

ALL = AssetCondition(mode="all", uris=("orders", "customers"))
ANY = AssetCondition(mode="any", uris=("orders", "customers"))


def noop() -> None:
    return None


def spec_of(dag: DAG) -> DagSpec:
    dag.fileloc = "/dags/x.py"
    return dag.to_spec()


# -- the decision ------------------------------------------------------------------------------------
def test_all_is_due_once_every_asset_was_updated_since_the_cursors() -> None:
    assert due_updates(ALL, {"orders": 7, "customers": 9}, {"orders": 3, "customers": 4}) == {"orders": 7, "customers": 9}


def test_all_waits_while_one_asset_has_no_new_update() -> None:
    assert due_updates(ALL, {"orders": 7, "customers": 4}, {"orders": 3, "customers": 4}) is None


def test_all_waits_for_an_asset_never_updated() -> None:
    assert due_updates(ALL, {"orders": 7}, {}) is None


def test_any_is_due_when_one_asset_was_updated_and_consumes_only_that_one() -> None:
    assert due_updates(ANY, {"orders": 7, "customers": 4}, {"orders": 3, "customers": 4}) == {"orders": 7}


def test_any_waits_when_no_asset_has_a_new_update() -> None:
    assert due_updates(ANY, {"orders": 3, "customers": 4}, {"orders": 3, "customers": 4}) is None


def test_a_dag_that_never_ran_counts_every_recorded_update() -> None:
    assert due_updates(ALL, {"orders": 1, "customers": 2}, {}) == {"orders": 1, "customers": 2}


def test_several_updates_since_the_last_run_make_one_run_up_to_the_newest() -> None:
    # events 5, 6 and 7 of orders arrived since the cursor at 4: one decision, cursor moves to 7
    assert due_updates(AssetCondition(mode="all", uris=("orders",)), {"orders": 7}, {"orders": 4}) == {"orders": 7}


# -- authoring ---------------------------------------------------------------------------------------
def test_a_list_of_assets_schedules_on_all_of_them_without_a_cron_or_start_date() -> None:
    spec = spec_of(DAG("consumer", schedule=[Asset("orders"), Asset("customers"), Asset("orders")]))
    assert (spec.schedule, spec.asset_schedule) == (None, ALL)


def test_any_of_schedules_on_any_of_them() -> None:
    assert spec_of(DAG("consumer", schedule=AnyOf(Asset("orders"), Asset("customers")))).asset_schedule == ANY


def test_an_empty_asset_schedule_is_a_definition_error() -> None:
    with pytest.raises(DagDefinitionError, match="at least one Asset"):
        DAG("consumer", schedule=[])


def test_any_of_nothing_is_a_definition_error() -> None:
    with pytest.raises(DagDefinitionError, match="at least one Asset"):
        DAG("consumer", schedule=AnyOf())


def test_an_asset_schedule_of_strings_is_a_definition_error() -> None:
    with pytest.raises(DagDefinitionError, match="lists Asset"):
        DAG("consumer", schedule=["orders"])  # type: ignore[list-item]


@pytest.mark.parametrize("uri", ["", "has space", "tab\there", "x" * 501, 42, "next\x85line", "c1\x8dcontrol", "no\ufeffbom", "wide\u3000space"])
def test_an_asset_uri_must_be_short_and_without_spaces(uri: object) -> None:
    with pytest.raises(DagDefinitionError, match="uri must be"):
        Asset(uri)  # type: ignore[arg-type]


def test_the_uri_pattern_means_the_same_to_every_regex_engine_that_reads_it() -> None:
    """The API checks it with pydantic (Rust's regex), the OpenAPI document's readers with
    ECMAScript's (jsonschema_rs here), the Asset class with Python's: one character that one of
    them takes and another refuses is a request the document allows and the API refuses."""
    import jsonschema_rs
    from pydantic import StringConstraints, TypeAdapter, ValidationError

    rust = TypeAdapter(Annotated[str, StringConstraints(pattern=URI_PATTERN)])
    ecma = jsonschema_rs.validator_for({"type": "string", "pattern": URI_PATTERN})

    def judged(uri: str) -> tuple[bool, bool, bool]:
        try:
            rust.validate_python(uri)
            by_rust = True
        except ValidationError:
            by_rust = False
        try:
            Asset(uri)
            by_python = True
        except DagDefinitionError:
            by_python = False
        return by_rust, ecma.is_valid(uri), by_python

    chars = [chr(i) for i in [*range(0x3100), 0xFEFF, 0x1F600] if not 0xD800 <= i < 0xE000]
    split = {f"U+{ord(c):04X}": judged(f"a{c}b") for c in chars if len(set(judged(f"a{c}b"))) > 1}
    assert not split, f"(Rust, ECMAScript, Python) disagree on: {split}"


def test_a_task_s_outlets_are_in_its_spec_once_each() -> None:
    with DAG("producer") as dag:
        PythonTask(task_id="load", python_callable=noop, outlets=[Asset("orders"), Asset("s3://b/k"), Asset("orders")])
    assert spec_of(dag).task_map["load"].outlets == ("orders", "s3://b/k")


def test_outlets_must_be_assets() -> None:
    with DAG("producer"), pytest.raises(DagDefinitionError, match="outlets lists Asset"):
        PythonTask(task_id="load", python_callable=noop, outlets=["orders"])  # type: ignore[list-item]


# -- the version hash ----------------------------------------------------------------------------------
def _plain_spec(**changes: object) -> DagSpec:
    load = TaskSpec(task_id="load", callable="m:g", upstream=("extract",), **changes.pop("load", {}))  # type: ignore[arg-type]
    return DagSpec(dag_id="pinned", fileloc="/dags/pinned.py", schedule="@daily", tasks=(TaskSpec(task_id="extract", callable="m:f"), load), **changes)  # type: ignore[arg-type]


def test_a_dag_without_assets_or_triggers_keeps_the_version_hash_it_had_before_they_existed() -> None:
    assert _plain_spec().version_hash == "8f9ff17b197cea53"  # computed by the code before issue 5


@pytest.mark.parametrize(
    "changes",
    [{"load": {"outlets": ("orders",)}}, {"asset_schedule": ALL}, {"triggers": (EventTrigger("order.*").to_spec(),)}],
    ids=["outlets", "asset_schedule", "triggers"],
)
def test_assets_and_triggers_count_in_the_version_hash(changes: dict[str, object]) -> None:
    assert _plain_spec(**changes).version_hash != _plain_spec().version_hash


# -- what lists show --------------------------------------------------------------------------------
def test_the_schedule_label_is_the_cron_of_a_cron_dag() -> None:
    assert schedule_label(spec_of(DAG("d", schedule="@daily", start_date=datetime(2026, 1, 1)))) == "@daily"


def test_the_schedule_label_names_the_assets_and_how_they_combine() -> None:
    assert schedule_label(spec_of(DAG("d", schedule=[Asset("a"), Asset("b")]))) == "assets: a, b"
    assert schedule_label(spec_of(DAG("d", schedule=AnyOf(Asset("a"), Asset("b"))))) == "any of: a, b"


def test_the_schedule_label_names_the_event_types_that_start_a_dag() -> None:
    assert schedule_label(spec_of(DAG("d", triggers=[EventTrigger("order.*"), EventTrigger("refund.*")]))) == "events: order.*, refund.*"


def test_a_long_schedule_label_is_cut_to_fit_the_column() -> None:
    label = schedule_label(spec_of(DAG("d", schedule=[Asset(f"warehouse.table_{i}") for i in range(10)])))
    assert label is not None and len(label) == 100 and label.endswith("…")


def test_an_unscheduled_dag_has_no_schedule_label() -> None:
    assert schedule_label(spec_of(DAG("d"))) is None


def test_asset_references_name_the_producing_tasks_and_the_consuming_dags() -> None:
    with DAG("producer") as producer:
        PythonTask(task_id="load", python_callable=noop, outlets=[Asset("orders")])
    refs = asset_references([spec_of(producer), spec_of(DAG("consumer", schedule=AnyOf(Asset("orders"), Asset("customers"))))])
    assert (refs["orders"].producers, refs["orders"].consumers) == ([("producer", "load")], ["consumer"])
    assert (refs["customers"].producers, refs["customers"].consumers) == ([], ["consumer"])
