"""Which tries go to Dask together: pure decisions, no Dask and no clock.

- A try chained to an upstream try (`WorkItem.after`) joins that try's pack and runs right
  after it on the same worker: a linear chain costs no round trip.
- Tiny tries (declared with `tiny=True`, or learned: their kind's recent tries all took under
  `TINY_S`) are put in batches, many in one Dask task, cut so every worker thread gets work.
- Every other try is a pack of its own.
- Tries of a kind never seen end (`Probes`) go a few at a time until one ends, so a thousand of
  them ready together are batched once their first tells that they are tiny.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from orchestrator.execution.runtime import WorkItem

TINY_S = 0.01
"""A try that took less than this is tiny."""
LEARN_FROM = 3
"""How many recent tries of a kind are looked at: all must be tiny (one seen is enough)."""
MAX_BATCH = 1000
"""The most tries in one batch."""
MIN_BATCH = 16
"""Fewer tiny tries than this per worker thread are not spread over more batches."""


class DurationBook:
    """Recent try durations by kind of task (its step type and callable), to tell tiny ones."""

    def __init__(self) -> None:
        self._recent: dict[Hashable, deque[float]] = {}

    def record(self, kind: Hashable, seconds: float) -> None:
        self._recent.setdefault(kind, deque(maxlen=LEARN_FROM)).append(seconds)

    def known(self, kind: Hashable) -> bool:
        """Whether a try of this kind has ended with its duration recorded."""
        return kind in self._recent

    def tiny(self, kind: Hashable, declared: bool | None = None) -> bool:
        """Declared wins; otherwise tiny when the kind's last tries (up to LEARN_FROM) were all tiny."""
        if declared is not None:
            return declared
        recent = self._recent.get(kind)
        return bool(recent) and max(recent) < TINY_S  # type: ignore[arg-type]


@dataclass(frozen=True)
class Pack:
    items: tuple[WorkItem, ...]
    tiny: bool


def chains_of(items: Sequence[WorkItem]) -> list[list[WorkItem]]:
    """The items (in submit order, each after the items it is chained to) as chains that run in one pack."""
    chains: list[list[WorkItem]] = []
    chain_of: dict[str, list[WorkItem]] = {}
    for item in items:
        chain = chain_of[item.after[0]] if item.after else None
        if chain is None:
            chain = []
            chains.append(chain)
        chain.append(item)
        chain_of[item.key] = chain
    return chains


def by_priority(items: Sequence[WorkItem]) -> list[WorkItem]:
    """The items with the higher-priority runs' first; stable, so a run's items keep their order
    (a chained item stays after the items it is chained to)."""
    return sorted(items, key=lambda w: -w.priority)


def make_packs(items: Sequence[WorkItem], tiny: Callable[[WorkItem], bool], slots: int) -> list[Pack]:
    """Group work items (in submit order, each after the items it is chained to) into packs, the
    packs holding higher-priority items first."""
    small: list[list[WorkItem]] = []
    packs: list[Pack] = []
    for c in chains_of(items):
        if all(tiny(i) for i in c):
            small.append(c)
        else:
            packs.append(Pack(tuple(c), False))
    return sorted(packs + _batches(small, slots), key=lambda p: -max(i.priority for i in p.items))


def _batches(chains: list[list[WorkItem]], slots: int) -> list[Pack]:
    """Tiny chains in batches: one per worker thread when there are enough of them, more when a
    batch would exceed MAX_BATCH tries; chains stay whole and in order."""
    total = sum(len(c) for c in chains)
    if not total:
        return []
    count = max(1, min(slots, total // MIN_BATCH), -(-total // MAX_BATCH))
    size = -(-total // count)
    packs: list[Pack] = []
    current: list[WorkItem] = []
    for chain in chains:
        current.extend(chain)
        if len(current) >= size:
            packs.append(Pack(tuple(current), True))
            current = []
    if current:
        packs.append(Pack(tuple(current), True))
    return packs


class Probes:
    """Chains whose first try is of a kind never seen end: up to `slots` of a kind go as probes,
    the rest are held until a probe ends, and then go like any other (batched when the probe
    showed them tiny). Holding costs no throughput: past the slots they would only queue in Dask."""

    def __init__(self) -> None:
        self._probing: dict[Hashable, set[str]] = {}
        self._kind_of_probe: dict[str, Hashable] = {}
        self._held: dict[Hashable, list[WorkItem]] = {}

    def admit(self, items: Sequence[WorkItem], unknown: Callable[[WorkItem], Hashable | None], slots: int) -> list[WorkItem]:
        """The items to submit now, in order; `unknown` gives the kind of an item whose duration
        is not known (None: known or declared). Chains stay whole, held or not."""
        go: list[WorkItem] = []
        for chain in chains_of(items):
            kind = unknown(chain[0])
            if kind is None:
                go.extend(chain)
                continue
            probing = self._probing.setdefault(kind, set())
            if kind in self._held or len(probing) >= max(1, slots):
                self._held.setdefault(kind, []).extend(chain)
                continue
            probing.add(chain[0].key)
            self._kind_of_probe[chain[0].key] = kind
            go.extend(chain)
        return go

    def ended(self, key: str) -> list[WorkItem]:
        """A try ended, was lost or cancelled: when it was a probe, the items held for its kind."""
        kind = self._kind_of_probe.pop(key, None)
        if kind is None:
            return []
        probing = self._probing.get(kind, set())
        probing.discard(key)
        if not probing:
            self._probing.pop(kind, None)
        return self._held.pop(kind, [])

    def drop(self, key: str) -> list[WorkItem]:
        """A try about to be cancelled: what to submit first, so it is cancelled as any submitted
        try is (a held one: its chain, no longer held; a probe: the items held for its kind)."""
        for kind, held in self._held.items():
            for chain in chains_of(held):
                if any(i.key == key for i in chain):
                    taken = {id(i) for i in chain}
                    kept = [i for i in held if id(i) not in taken]
                    if kept:
                        self._held[kind] = kept
                    else:
                        del self._held[kind]
                    return chain
        return self.ended(key)

    def held(self) -> int:
        """How many items wait for a probe."""
        return sum(len(h) for h in self._held.values())
