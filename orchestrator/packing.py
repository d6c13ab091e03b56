"""Which tries go to Dask together: pure decisions, no Dask and no clock.

- A try chained to an upstream try (`WorkItem.after`) joins that try's pack and runs right
  after it on the same worker: a linear chain costs no round trip.
- Tiny tries (declared with `tiny=True`, or learned: their kind's recent tries all took under
  `TINY_S`) are put in batches, many in one Dask task, cut so every worker thread gets work.
- Every other try is a pack of its own.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from orchestrator.runtime import WorkItem

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


def make_packs(items: Sequence[WorkItem], tiny: Callable[[WorkItem], bool], slots: int) -> list[Pack]:
    """Group work items (in submit order, each after the items it is chained to) into packs."""
    chains: list[list[WorkItem]] = []
    chain_of: dict[str, list[WorkItem]] = {}
    for item in items:
        chain = chain_of[item.after[0]] if item.after else None
        if chain is None:
            chain = []
            chains.append(chain)
        chain.append(item)
        chain_of[item.key] = chain
    small: list[list[WorkItem]] = []
    packs: list[Pack] = []
    for c in chains:
        if all(tiny(i) for i in c):
            small.append(c)
        else:
            packs.append(Pack(tuple(c), False))
    return packs + _batches(small, slots)


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
