"""WaitForEvent's spec and the pure matching: the match over the event and the run's params, and the
correlation keys that let the store find the waits an event may match without looking at all of them."""

from __future__ import annotations

import pytest

from orchestrator import DAG, WaitForEvent
from orchestrator.core.errors import DagDefinitionError
from orchestrator.core.event_waits import MAX_EVENT_KEYS, document, event_keys, is_glob, matches, wait_key

INVOICE = document("invoice.approved", {"invoice_id": "inv-7", "amount": 1200.0, "by": {"name": "ann"}}, "evt-1")


def test_match_sees_the_event_and_the_run_s_params() -> None:
    match = "payload.invoice_id == params.invoice_id && payload.amount > `1000`"
    assert matches(match, {**INVOICE, "params": {"invoice_id": "inv-7"}})
    assert not matches(match, {**INVOICE, "params": {"invoice_id": "inv-8"}})


def test_no_match_expression_matches_any_event_of_the_type() -> None:
    assert matches(None, INVOICE)


def test_an_equality_with_a_param_gives_the_key_of_the_event_field_it_names() -> None:
    key = wait_key("payload.invoice_id == params.invoice_id", {"invoice_id": "inv-7"})
    assert key is not None and key in event_keys(INVOICE)
    assert wait_key("payload.invoice_id == params.invoice_id", {"invoice_id": "inv-8"}) not in event_keys(INVOICE)


def test_the_key_is_found_on_either_side_inside_an_and_and_for_literals_and_nested_fields() -> None:
    keys = event_keys(INVOICE)
    assert wait_key("payload.amount > `5` && params.who == payload.by.name", {"who": "ann"}) in keys
    assert wait_key("payload.amount == `1200`", {}) in keys  # 1200.0 and 1200 are equal in JMESPath
    assert wait_key("id == 'evt-1'", {}) in keys


@pytest.mark.parametrize(
    "match",
    [None, "payload.amount > `1000`", "payload.invoice_id == params.missing", "contains(payload.tags, 'x') == `true`",
     "payload.invoice_id == params.invoice_id || payload.x == `1`"],
)
def test_a_match_without_a_usable_equality_has_no_key(match: str | None) -> None:
    assert wait_key(match, {"invoice_id": "inv-7"}) is None


def test_an_event_with_too_many_fields_has_no_keys_so_every_wait_of_its_type_is_looked_at() -> None:
    big = document("bulk", {f"f{i}": i for i in range(MAX_EVENT_KEYS + 1)}, None)
    assert event_keys(big) is None


def test_globs_are_told_from_plain_types() -> None:
    assert is_glob("invoice.*") and is_glob("invoice.?pproved") and not is_glob("invoice.approved")


# -- the authoring API -------------------------------------------------------------------------------------------
def test_wait_for_event_names_itself_after_the_type_and_keeps_its_spec() -> None:
    with DAG("waits") as dag:
        WaitForEvent("invoice.*", match="payload.id == params.id", timeout="PT1H")
        WaitForEvent("invoice.*")
    first, second = dag.to_spec().tasks
    assert (first.task_id, second.task_id) == ("wait_for_invoice._", "wait_for_invoice.___1")
    assert (first.step_type, first.wait.type, first.wait.match, first.wait.timeout) == ("wait_for_event", "invoice.*", "payload.id == params.id", 3600.0)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"type": ""}, "type"),
        ({"type": "x", "match": "payload.("}, "is not valid JMESPath"),
        ({"type": "x", "match": "nope(payload)"}, r"calls nope\(\), which JMESPath does not have"),
        ({"type": "x", "timeout": -5}, "must not be negative"),
        ({"type": "x", "retries": 1}, "is not retried"),
    ],
)
def test_a_bad_wait_is_a_definition_error_naming_the_problem(kwargs: dict, problem: str) -> None:
    with pytest.raises(DagDefinitionError, match=problem):
        with DAG("bad"):
            WaitForEvent(task_id="w", **kwargs)
