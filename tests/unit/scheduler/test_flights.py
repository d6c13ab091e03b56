"""The tries in flight and their counts (scheduler.flights): kept up to date, never recounted."""

from __future__ import annotations

import random

from orchestrator.store.runs import RunKey
from scheduler.flights import Flight, FlightBook


def test_kept_counts_equal_a_full_recount_after_any_sequence_of_changes() -> None:
    rng = random.Random(7)
    book = FlightBook()
    runs = [RunKey(f"dag{d}", f"run{r}") for d in range(3) for r in range(4)]
    keys: list[str] = []
    for step in range(2000):
        if keys and rng.random() < 0.45:
            book.pop(keys.pop(rng.randrange(len(keys))))
        else:
            key = f"k{step}"
            book.add(key, Flight(rng.choice(runs), f"t{step}", 1, pool=rng.choice([None, "db", "api"])))
            keys.append(key)
        by_dag, by_pool = book.recount()
        assert book.by_dag == by_dag and book.by_pool == by_pool


def test_a_run_s_flights_are_found_without_walking_the_others() -> None:
    book = FlightBook()
    a, b = RunKey("d", "a"), RunKey("d", "b")
    book.add("a1", Flight(a, "t1", 1))
    book.add("a2", Flight(a, "t2", 1))
    book.add("b1", Flight(b, "t1", 1))
    assert sorted(book.of_run(a)) == ["a1", "a2"]
    book.pop("a1")
    assert book.of_run(a) == ["a2"]


def test_popping_an_unknown_key_changes_nothing() -> None:
    book = FlightBook()
    book.add("k", Flight(RunKey("d", "r"), "t", 1, pool="p"))
    assert book.pop("other") is None
    assert book.by_dag == {"d": 1} and book.by_pool == {"p": 1}
