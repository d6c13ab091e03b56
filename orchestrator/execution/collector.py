"""Python's cyclic garbage collector, set for the scheduler's loop and for the Dask workers' tries.

Each task the scheduler handles allocates a few hundred short-lived objects, while the runs it
holds keep hundreds of thousands of long-lived ones (views, specs, work items). At Python's
defaults the collector then walks the young objects every 700 allocations and the whole heap
each time the long-lived part grows by a quarter, which cost a sixth of the scheduler's time on
`bench W5`. The loop runs with what startup loaded frozen out of the collector's sight and with
a hundred times fewer whole-heap collections. The young generation is still collected at
Python's pace: garbage such as a dropped session, whose cycles hold a database connection (and
an SQLite lock), must go as soon as it would at the defaults.

A worker running packs of tiny tries is alike: a pack of work items is unpickled at once and
every try allocates its context and outcome, so its process is set the same way once it has
imported what tries need (a sixth less worker CPU per try on `bench W5`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

THRESHOLDS = (700, 10, 1_000)
"""Young-generation allocations between collections, then how many of each generation's
collections make one of the next (Python's defaults: 700, 10, 10): only the last is raised."""


@contextmanager
def tuned_for_the_loop() -> Iterator[None]:
    """Run the block with THRESHOLDS and startup's objects frozen; the settings are put back after."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def set_for_tries() -> None:
    """Set this (worker) process for good: THRESHOLDS, and what it loaded so far frozen."""
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
