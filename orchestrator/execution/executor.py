"""The Executor interface and the in-process executor (used by `dags test` and unit tests).

An executor takes packs of `WorkItem`s (orchestrator.execution.packs): the items of a pack run one after
another in one place, an item taking the outcomes of the earlier items it names (`WorkItem.after`)
when the executor `chains`, so a downstream starts the moment its upstream ends, without a round
trip to the scheduler. It reports back through a callback: `Started` when a try begins (when the
executor can tell) and `Completed` when it ends or is lost.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from orchestrator.execution.runtime import Outcome, WorkItem, run_task


@dataclass(frozen=True)
class Started:
    key: str
    start: datetime
    worker: str | None


WORKER_LOST = "worker lost"
"""How the error of a try the executor lost with its worker begins."""


@dataclass(frozen=True)
class Completed:
    """A try ended. `outcome` is None when the executor lost the work (`error` says how)."""

    key: str
    outcome: Outcome | None
    error: str | None = None


@dataclass(frozen=True)
class LogChunk:
    """New log text of a try that is still running."""

    key: str
    text: str


@dataclass(frozen=True)
class WorkerInfo:
    """One worker as the executor sees it, for the health page and metrics."""

    address: str
    nthreads: int
    executing: int
    memory_bytes: int


ExecutorEvent = Started | Completed | LogChunk
EventSink = Callable[[ExecutorEvent | list[ExecutorEvent]], None]
"""Where an executor hands its events: one, or a list of those that arrived together (the
outcomes of a pack of tiny tries), in order."""


class Executor(Protocol):
    """Where task tries run."""

    chains: bool

    @property
    def slots(self) -> int:
        """How many tries can run at once (worker threads); packs of tiny tries are cut to fit."""

    def start(self, sink: EventSink) -> None:
        """Begin; every later event goes to `sink` (which must be thread-safe)."""

    def submit(self, pack: Sequence[WorkItem], *, tiny: bool = False) -> None:
        """Run the pack's items in order in one place; `tiny`: they are short, report them together."""

    def cancel(self, key: str) -> None:
        """Stop `key` if it has not ended; no completion is reported for it."""

    def workers(self) -> list[WorkerInfo]:
        """The workers there are now, with their load."""

    def close(self) -> None:
        """Stop; no more events after this returns."""


class InProcessExecutor:
    """Runs each try synchronously in the calling thread. No chaining; for `dags test`."""

    chains = False
    slots = 1

    def __init__(self) -> None:
        self._sink: EventSink | None = None

    def start(self, sink: EventSink) -> None:
        self._sink = sink

    def submit(self, pack: Sequence[WorkItem], *, tiny: bool = False) -> None:
        assert self._sink is not None, "start() the executor first"
        for work in pack:
            if work.after:
                raise ValueError("InProcessExecutor cannot chain work")
            self._sink(Completed(work.key, run_task(work)))

    def cancel(self, key: str) -> None:
        return None

    def workers(self) -> list[WorkerInfo]:
        return [WorkerInfo("in-process", 1, 0, 0)]

    def close(self) -> None:
        self._sink = None
