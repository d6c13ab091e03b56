"""Which tries go to Dask together (orchestrator.execution.packing): chains whole, tiny tries in batches."""

from __future__ import annotations

from dataclasses import replace

import pytest

from orchestrator.core.priority import MAX_PRIORITY, InvalidPriorityError, check_priority
from orchestrator.execution.packing import MAX_BATCH, TINY_S, DurationBook, Probes, by_priority, make_packs
from orchestrator.execution.runtime import WorkItem


def item(key: str, *after: str) -> WorkItem:
    return WorkItem(key=key, dag_id="d", run_id="r", task_id=key, try_number=1, fileloc="f.py", dags_root=None,
                    chained_upstreams=after, after=after)


def never(_: WorkItem) -> bool:
    return False


def always(_: WorkItem) -> bool:
    return True


def test_a_chained_item_runs_in_its_upstreams_pack_right_after_it() -> None:
    packs = make_packs([item("a"), item("b", "a"), item("c", "b"), item("x")], never, slots=2)
    assert [[i.key for i in p.items] for p in packs] == [["a", "b", "c"], ["x"]]


def test_items_that_are_not_tiny_get_a_pack_each() -> None:
    packs = make_packs([item(f"t{i}") for i in range(5)], never, slots=2)
    assert [len(p.items) for p in packs] == [1, 1, 1, 1, 1]
    assert not any(p.tiny for p in packs)


def test_tiny_items_are_batched_one_batch_per_worker_thread() -> None:
    packs = make_packs([item(f"t{i}") for i in range(500)], always, slots=2)
    assert [len(p.items) for p in packs] == [250, 250]
    assert all(p.tiny for p in packs)


def test_a_few_tiny_items_stay_in_one_batch() -> None:
    packs = make_packs([item(f"t{i}") for i in range(5)], always, slots=4)
    assert [len(p.items) for p in packs] == [5]


def test_no_batch_holds_more_than_max_batch_items() -> None:
    packs = make_packs([item(f"t{i}") for i in range(3 * MAX_BATCH + 1)], always, slots=2)
    assert max(len(p.items) for p in packs) <= MAX_BATCH
    assert sum(len(p.items) for p in packs) == 3 * MAX_BATCH + 1


def test_a_tiny_chain_stays_whole_inside_a_batch() -> None:
    items = [item(f"t{i}") for i in range(40)] + [item("a"), item("b", "a")]
    packs = make_packs(items, always, slots=2)
    holding = [p for p in packs if any(i.key == "a" for i in p.items)]
    keys = [i.key for i in holding[0].items]
    assert keys.index("b") == keys.index("a") + 1


def test_a_chain_with_one_long_item_is_not_batched() -> None:
    packs = make_packs([item("a"), item("b", "a")], lambda w: w.key != "b", slots=2)
    assert [([i.key for i in p.items], p.tiny) for p in packs] == [(["a", "b"], False)]


def test_a_kind_is_tiny_once_its_recent_tries_were_all_short() -> None:
    book = DurationBook()
    assert not book.tiny("noop")
    book.record("noop", TINY_S / 10)
    assert book.tiny("noop")
    book.record("noop", TINY_S * 10)
    assert not book.tiny("noop")


def test_a_declared_size_wins_over_what_was_learned() -> None:
    book = DurationBook()
    book.record("slow", 5.0)
    assert book.tiny("slow", declared=True)
    book.record("fast", 0.0)
    assert not book.tiny("fast", declared=False)


def unknown(w: WorkItem) -> str | None:
    return "kind" if w.task_id.startswith("u") else None


def test_tries_of_a_kind_never_seen_go_one_per_slot_and_the_rest_wait() -> None:
    probes = Probes()
    go = probes.admit([item(f"u{i}") for i in range(10)] + [item("k")], unknown, slots=2)
    assert [i.key for i in go] == ["u0", "u1", "k"]
    assert probes.held() == 8


def test_a_probe_ending_frees_every_item_held_for_its_kind() -> None:
    probes = Probes()
    probes.admit([item(f"u{i}") for i in range(10)], unknown, slots=2)
    assert [i.key for i in probes.ended("u0")] == [f"u{i}" for i in range(2, 10)]
    assert probes.held() == 0
    assert probes.ended("u1") == []


def test_a_held_chain_stays_whole() -> None:
    probes = Probes()
    go = probes.admit([item("u0"), item("u1"), item("u2"), item("x", "u2")], unknown, slots=2)
    assert [i.key for i in go] == ["u0", "u1"]
    assert [i.key for i in probes.ended("u1")] == ["u2", "x"]


def test_a_cancelled_held_item_is_handed_back_with_its_chain_and_no_longer_held() -> None:
    probes = Probes()
    probes.admit([item("u0"), item("u1"), item("u2"), item("x", "u2"), item("u3")], unknown, slots=1)
    assert [i.key for i in probes.drop("x")] == ["u2", "x"]
    assert [i.key for i in probes.ended("u0")] == ["u1", "u3"]


def test_a_cancelled_probe_frees_the_items_held_for_its_kind() -> None:
    probes = Probes()
    probes.admit([item("u0"), item("u1")], unknown, slots=1)
    assert [i.key for i in probes.drop("u0")] == ["u1"]


def test_a_kind_seen_once_is_known() -> None:
    book = DurationBook()
    assert not book.known(("PythonTask", "m.f"))
    book.record(("PythonTask", "m.f"), 3.0)
    assert book.known(("PythonTask", "m.f"))


# -- run priority ------------------------------------------------------------------------------------------
def test_items_of_higher_priority_runs_come_first_and_a_run_keeps_its_order() -> None:
    low, high1, high2 = item("low"), replace(item("h1"), priority=5), replace(item("h2", "h1"), priority=5)
    assert [w.key for w in by_priority([low, high1, high2])] == ["h1", "h2", "low"]


def test_packs_holding_a_higher_priority_item_are_submitted_first() -> None:
    low, high = item("low"), replace(item("high"), priority=3)
    assert [p.items[0].key for p in make_packs([low, high], lambda w: False, 2)] == ["high", "low"]


def test_a_priority_outside_the_range_is_refused_naming_it() -> None:
    assert check_priority(MAX_PRIORITY) == MAX_PRIORITY
    with pytest.raises(InvalidPriorityError, match="from -1000 to 1000"):
        check_priority(MAX_PRIORITY + 1)
    with pytest.raises(InvalidPriorityError):
        check_priority(True)
