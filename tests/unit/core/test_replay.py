"""orchestrator.core.replay: folding a run's events into its state, and comparing it with the rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orchestrator.core.replay import MAP_COUNT, InstanceImage, StoredRun, differences, replay

T = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class E:
    id: int
    kind: str
    to_state: str | None
    task_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    payload: dict[str, Any] | None = None
    at: datetime = T


def test_the_first_start_makes_every_task_of_the_definition_pending() -> None:
    image = replay(["a", "b"], [E(1, "run.queued", "queued"), E(2, "run.running", "running")])
    assert image.state == "running"
    assert image.tasks == {("a", -1): InstanceImage("pending", 0), ("b", -1): InstanceImage("pending", 0)}


def test_task_events_set_the_state_and_the_try_number() -> None:
    events = [E(1, "run.running", "running"), E(2, "task.queued", "queued", "a", -1, 0), E(3, "task.running", "running", "a", -1, 1),
              E(4, "task.up_for_retry", "up_for_retry", "a", -1, 1)]
    assert replay(["a"], events).tasks[("a", -1)] == InstanceImage("up_for_retry", 1)


def test_until_stops_at_that_event() -> None:
    events = [E(1, "run.running", "running"), E(2, "task.queued", "queued", "a", -1, 0), E(3, "run.success", "success")]
    image = replay(["a"], events, until=2)
    assert (image.state, image.tasks[("a", -1)].state, image.event_id, image.events) == ("running", "queued", 2, 2)


def test_an_expansion_makes_its_instances_and_a_shorter_one_drops_the_rest() -> None:
    grow = [E(1, "run.running", "running"), E(2, "task.running", "running", "m", -1, 0, {MAP_COUNT: 3})]
    assert sorted(k for k in replay(["m"], grow).tasks if k[1] >= 0) == [("m", 0), ("m", 1), ("m", 2)]
    shrink = [*grow, E(3, "task.running", "running", "m", -1, 0, {MAP_COUNT: 1})]
    assert sorted(k for k in replay(["m"], shrink).tasks if k[1] >= 0) == [("m", 0)]


def test_differences_name_each_field_and_each_missing_row() -> None:
    image = replay(["a", "b"], [E(1, "run.running", "running"), E(2, "task.success", "success", "a", -1, 1)])
    stored = {("a", -1): InstanceImage("failed", 2), ("c", -1): InstanceImage("pending", 0)}
    assert differences(image, "success", stored) == [
        "run: replayed state running, stored success",
        "task a: replayed state success, stored failed",
        "task a: replayed try 1, stored 2",
        "task b: replayed (pending) but no stored row",
        "task c: stored (pending) but no event made it",
    ]


def test_a_machine_run_replays_its_state_run_data_and_correlation_id() -> None:
    events = [
        E(1, "run.queued", "queued", payload={"run_type": "manual", "conf": {}, "correlation_id": "order-1"}),
        E(2, "machine.state", None, payload={"from": None, "to": "draft"}),
        E(3, "run_data.set", None, "review", payload={"key": "score", "value": 1}),
        E(4, "machine.state", None, payload={"from": "draft", "to": "review"}),
        E(5, "run_data.set", None, "review", payload={"key": "score", "value": 2}),
    ]
    image = replay([], events)
    assert (image.machine_state, image.run_data, image.correlation_id) == ("review", {"score": 2}, "order-1")
    assert replay([], events, until=3).machine_state == "draft"


def test_a_sent_event_gives_the_correlation_id_to_a_run_without_one() -> None:
    events = [E(1, "run.queued", "queued", payload={}), E(2, "machine.event", None, payload={"event": "go", "payload": {"correlation_id": "c-2"}})]
    assert replay([], events).correlation_id == "c-2"


def test_differences_name_the_machine_state_run_data_and_correlation_id() -> None:
    image = replay([], [E(1, "run.running", "running"), E(2, "machine.state", None, payload={"to": "a"})])
    assert differences(image, "running", {}, StoredRun("b", {"x": 1}, "c")) == [
        "run: replayed machine state a, stored b",
        "run: replayed run data {}, stored {'x': 1}",
        "run: replayed correlation id None, stored c",
    ]
