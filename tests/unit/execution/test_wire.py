"""Outcomes cross from the workers to the scheduler on Dask's event stream (orchestrator.execution.wire)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from orchestrator.execution.runtime import Outcome
from orchestrator.execution.wire import EVENT_BYTES, OutcomeParts, encode, messages

FULL = Outcome(
    "d/r/t/1/7", "t", 1, "failed", datetime(2026, 12, 6, 10, 0, 0, 123456, UTC), datetime(2026, 12, 6, 10, 0, 1, 654321, UTC),
    "worker-1", {"rows": [1, 2]}, "boom", "Traceback ...", "a log line\n", error_type="ConnectionError",
    error_bases=("OSError", "Exception"), error_code="E42", follow=("left",), busy_s=0.25, rendered={"bash_command": "echo 1"},
    data_changes={"total": 3},
)


def _through_the_wire(outcomes: list[Outcome]) -> list[Outcome]:
    parts = OutcomeParts()
    return [o for msg in messages(encode(o) for o in outcomes) for o in parts.take(msg)]


def test_every_field_of_an_outcome_arrives_as_it_was_sent() -> None:
    assert _through_the_wire([FULL]) == [FULL]


def test_an_outcome_with_only_its_defaults_arrives_with_them() -> None:
    bare = Outcome("k", "t", 2, "success")
    assert _through_the_wire([bare]) == [bare]


def test_many_small_outcomes_travel_in_few_messages_and_keep_their_order() -> None:
    outcomes = [dataclasses.replace(FULL, key=f"k{i}", status="success") for i in range(200)]
    sent = messages(encode(o) for o in outcomes)
    assert len(sent) < 50
    assert _through_the_wire(outcomes) == outcomes


def test_an_outcome_bigger_than_one_message_is_joined_from_its_parts() -> None:
    big = dataclasses.replace(FULL, log="x" * (3 * EVENT_BYTES))
    sent = messages([encode(big)])
    assert len(sent) == 4 and all("part" in m for m in sent)
    assert _through_the_wire([big]) == [big]
