"""The tries in flight (queued or running on the executor), with their counts kept up to date.

Admission needs how many tasks are in flight per DAG (`max_active_tasks`) and per pool, and a
run that ends or is reloaded needs its own tries: all kept as tries come and go, so no pass
ever walks every try in flight.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from orchestrator.store.runs import RunKey


@dataclass(frozen=True)
class Flight:
    run: RunKey
    task_id: str
    try_number: int
    map_index: int = -1
    pool: str | None = None


class FlightBook:
    """Executor key -> Flight, indexed by run, with counts by DAG and by pool."""

    def __init__(self) -> None:
        self._flights: dict[str, Flight] = {}
        self._by_run: dict[RunKey, set[str]] = {}
        self.by_dag: Counter[str] = Counter()
        self.by_pool: Counter[str] = Counter()

    def add(self, key: str, flight: Flight) -> None:
        self._flights[key] = flight
        self._by_run.setdefault(flight.run, set()).add(key)
        self.by_dag[flight.run.dag_id] += 1
        if flight.pool:
            self.by_pool[flight.pool] += 1

    def get(self, key: str) -> Flight | None:
        return self._flights.get(key)

    def pop(self, key: str) -> Flight | None:
        flight = self._flights.pop(key, None)
        if flight is None:
            return None
        keys = self._by_run[flight.run]
        keys.discard(key)
        if not keys:
            del self._by_run[flight.run]
        _decrement(self.by_dag, flight.run.dag_id)
        if flight.pool:
            _decrement(self.by_pool, flight.pool)
        return flight

    def of_run(self, run: RunKey) -> list[str]:
        """The keys of the run's tries in flight."""
        return list(self._by_run.get(run, ()))

    def __contains__(self, key: str) -> bool:
        return key in self._flights

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._flights))

    def __len__(self) -> int:
        return len(self._flights)

    def recount(self) -> tuple[Counter[str], Counter[str]]:
        """The counts by DAG and by pool, from scratch (what the kept counts must equal)."""
        by_dag: Counter[str] = Counter(f.run.dag_id for f in self._flights.values())
        by_pool: Counter[str] = Counter(f.pool for f in self._flights.values() if f.pool)
        return by_dag, by_pool


def _decrement(counter: Counter[str], name: str) -> None:
    counter[name] -= 1
    if counter[name] <= 0:
        del counter[name]
